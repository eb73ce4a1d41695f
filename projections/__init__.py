"""touchstream.projections"""
