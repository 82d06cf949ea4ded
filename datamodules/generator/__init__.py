"""Physiological synthetic nights: hypnogram, PSG signals and infrared video that agree epoch by epoch."""
