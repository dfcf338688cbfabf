"""Taiyaki's flip-flop basecaller, rebuilt without Taiyaki (archived, pins torch 1.5)."""
