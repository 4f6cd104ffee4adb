"""Interpolating long films and whole folders on a Ray cluster, identical to one machine."""
