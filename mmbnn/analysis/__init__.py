"""Model analysis: binary and real operations, parameters, memory and compression."""
from .base_agreement import base_agreement, base_layers, mean_base_agreement
from .larq_counts import LARQ_CONVENTIONS, LarqCounts, larq_counts
from .metafile import metafile_metadata, update_metafile
from .render import format_summary, summary_tables
from .summary import LayerSummary, ModelSummary, summarize

__all__ = ['summarize', 'LayerSummary', 'ModelSummary', 'summary_tables', 'format_summary',
           'update_metafile', 'metafile_metadata', 'base_agreement', 'base_layers',
           'mean_base_agreement', 'larq_counts', 'LarqCounts', 'LARQ_CONVENTIONS']
