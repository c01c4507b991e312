"""Figures: accuracy against cost, and training curves (matplotlib, imported only to draw).

Drawing predictions goes through the toolboxes' own visualizers: see :mod:`mmbnn.apis`.
"""
from .curves import LogError, curves, plot_curves
from .tradeoff import ResultsError, collect, plot_tradeoff, read_results

__all__ = ['ResultsError', 'read_results', 'collect', 'plot_tradeoff', 'LogError', 'curves',
           'plot_curves']
