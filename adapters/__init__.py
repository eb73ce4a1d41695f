"""touchstream.adapters"""
