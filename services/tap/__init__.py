"""IVOA TAP service: ADQL queries, UWS jobs, VOSI, TAP_SCHEMA, ObsCore, cone search."""
