"""``difftone studio``: a local Gradio app to edit in the browser.

Type a prompt (or drop in a recording), pick a target instrument, see the latent classifier's
trace with the step Diff-TONE would swap at and why, move the step and listen. The model work
goes through :mod:`difftone.studio.backend` (the same model resolution and edit step as
``difftone edit``); :mod:`difftone.studio.app` is the page and its API (fixed ``api_name`` s:
``generate``, ``edit``, ``edit_audio``).
"""
