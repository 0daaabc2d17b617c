"""The experiment scaffolding one chapter needs; may import train and experiment; nothing in the core imports it.

``decision_layer``: encoders pre-trained alone and the frozen-feature data sets of chapter 10.
"""
