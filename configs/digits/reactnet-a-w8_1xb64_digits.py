# ReActNet-A at a quarter of its width (../_base_/models/reactnet-a-w8.py) on the digits, with the
# digits recipe (no distillation).
_base_ = ['../_base_/models/reactnet-a-w8.py', './_base_digits.py']
