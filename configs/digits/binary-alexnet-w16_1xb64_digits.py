# BinaryAlexNet at a quarter of its width (../_base_/models/binary-alexnet-w16.py) on the digits.
_base_ = ['../_base_/models/binary-alexnet-w16.py', './_base_digits.py']
