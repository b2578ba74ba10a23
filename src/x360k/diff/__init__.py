"""Differential trace analysis: where two traces of one program part ways, per guest thread.

Pipeline: ``inputs`` (any trace -> columns) -> ``keys`` (normalise, pack into
64-bit keys) -> ``mapping`` (pair threads) -> ``align`` (fast-forward, anchors,
Myers) -> ``classify`` -> ``origins`` (handle checks) -> ``explain`` ->
``report`` / ``perfetto``. ``compare.run_diff`` runs the steps in order.
"""
