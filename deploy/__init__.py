"""Running ISLA: the embedded local runtime, the launcher and deployment helpers."""
