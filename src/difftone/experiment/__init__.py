"""The paper's experiment as library functions, one per workflow stage.

``sources``: source generations with classifier traces and resume caches;
``edits``: one swap strategy over every instrument pair; ``scoring``: the
per-item and per-pair metrics; ``tables``: Table II, per-pair and sweep tables;
``report``: the HTML page.
"""
