"""touchstream.streams"""
