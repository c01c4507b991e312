"""Export to Larq Compute Engine (LCE): run mmbnn models on ARM phones and boards.

Our side (this environment): :func:`describe` writes a model as a neutral graph (JSON + arrays,
:mod:`.graph`), refusing what LCE cannot express (:class:`NotExportable`); :func:`run_graph`
computes that graph in torch. LCE's side runs in its own environment (:mod:`.env`, created by
``python tools/deploy/lce_env.py --setup``): :mod:`.keras_builder` rebuilds the graph with larq
layers and converts it with Larq Compute Engine's converter. :func:`export_lce` does both.
"""
from .describe import (DESCRIBERS, LCE_PAD_VALUES, Describer, NotExportable, describe,
                       model_forward, model_inputs, register_describer)
from .env import LceEnvMissing, lce_python, require_lce_python, run_json
from .export import KERAS_BUILDER, export_lce, export_lce_many, load_model
from .graph import GRAPH_FORMAT, GRAPH_VERSION, OPS, load_graph, save_graph
from .reference import binarizer_margins, run_graph, shapes_of

__all__ = ['export_lce', 'export_lce_many', 'load_model', 'KERAS_BUILDER', 'describe',
           'NotExportable', 'register_describer', 'DESCRIBERS', 'Describer', 'LCE_PAD_VALUES',
           'model_inputs', 'model_forward', 'run_graph', 'shapes_of', 'binarizer_margins',
           'GRAPH_FORMAT', 'GRAPH_VERSION', 'OPS', 'save_graph', 'load_graph', 'LceEnvMissing',
           'lce_python', 'require_lce_python', 'run_json']
