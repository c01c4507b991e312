"""User-facing helpers on top of the toolboxes: one-image inference and test-time drawing.

Nothing here imports mmdet, mmseg or mmpretrain until a config of that toolbox is used.
"""
from .inference import convert_to_one_bit, example_inputs, inference_model, init_inferencer
from .toolbox import TOOLBOXES, toolbox_of
from .visualization import enable_test_visualization, finish_test_visualization, has_display

__all__ = ['TOOLBOXES', 'toolbox_of', 'init_inferencer', 'inference_model', 'convert_to_one_bit',
           'example_inputs',
           'enable_test_visualization', 'finish_test_visualization', 'has_display']
