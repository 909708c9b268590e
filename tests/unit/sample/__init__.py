"""Unit tests of the sample seller book generator."""
