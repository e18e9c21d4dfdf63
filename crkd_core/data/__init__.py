"""Datasets, vocabulary, the two-view transform and collate."""
