"""touchstream.events"""
