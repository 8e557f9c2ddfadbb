"""Coverage: ``/moc/<name>``, MOC 2.0 of the archive and of each instrument (S-MOC, ST-MOC)."""
