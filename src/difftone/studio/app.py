"""The studio's page (Gradio Blocks) and its stable API.

The page: a source from a prompt and seed (or an uploaded or recorded file, inverted), the
classifier's trace (:func:`difftone.report.trace_plot.plot_trace`) with the chosen swap step
and why, the edit beside the source (mel spectrograms, players, the record, downloads), and
"hear every step": edits at ``studio.steps_to_hear`` steps of the kept trajectory in one click.

The API (``gradio_client``; fixed ``api_name`` s):

* ``generate(prompt, seed)`` -> source audio (WAV), trace (the dict of :class:`~difftone.engine.Trace`)
* ``edit(prompt, source, target, strategy, seed)`` -> source audio, edit audio, record (``edit.json``'s dict)
* ``edit_audio(file, source, target, strategy)`` -> reconstruction, edit audio, record

``source``/``target``: IRMAS codes or names, several comma-separated (one target per source word);
``strategy``: a registry strategy (``difftone``, ``fixed:12``, ...; empty: ``difftone``, or
``presence`` for several words). Every job runs through one queue, one at a time per model
(``concurrency_id`` ``model``); a bad input is one message (``gr.Error``) and the server goes on.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from pathlib import Path

import gradio as gr

from difftone.studio.backend import Resolved, Studio, StudioError, word_pairs

log = logging.getLogger("difftone.studio")

PROGRESS = gr.Progress(track_tqdm=True)
MANUAL = "fixed"  # the strategy picked without its step swaps at the manual slider's step (fixed:K)
QUEUE = dict(concurrency_limit=1, concurrency_id="model")
CSS = """
.gradio-container {max-width: 1100px !important; margin: auto;}
#banner {background: #fff3cd; border: 1px solid #e0b000; border-radius: 6px; padding: 4px 12px;}
.chosen-step {outline: 3px solid crimson; border-radius: 8px;}
"""


def _page_errors(fn):
    """Turn a user's mistake into one message in the page (``gr.Error``); anything else is logged and
    reported as one line too, and the server keeps serving."""
    from difftone.cli_inputs import user_errors

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (StudioError, *user_errors()) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception as exc:  # a bug, not the user's: keep serving
            log.exception("studio: %s failed", fn.__name__)
            raise gr.Error(f"{type(exc).__name__}: {exc} (see the server's log)", print_exception=False) from None

    return run


def instrument_choices(config) -> list[tuple[str, str]]:
    from difftone.instruments import INSTRUMENTS

    return [(f"{INSTRUMENTS[c].name} ({c})", c) for c in config["instruments"]]


def strategy_choices() -> list[str]:
    from difftone.engine import SPECS

    return sorted(SPECS)


def _mel_png(wave, sample_rate: int, path: Path, title: str) -> str:
    """A small mel-spectrogram picture of ``wave`` ([ch, n]) at ``path``."""
    import numpy as np
    from matplotlib.figure import Figure

    from difftone.report.figures import mel_db

    mel = mel_db(np.asarray(wave), sample_rate, n_mels=64)
    fig = Figure(figsize=(4.6, 1.9), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, wave.shape[-1] / sample_rate, 0, 64))
    ax.set_xlabel("seconds", fontsize=8)
    ax.set_ylabel("mel band", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)
    fig.savefig(path)
    return str(path)


class StudioApp:
    """The handlers of the page and of the API around one :class:`Studio`."""

    def __init__(self, studio: Studio):
        self.studio = studio

    # -- shared pieces ----------------------------------------------------------------------------
    def _source(self, prompt: str, seed, progress) -> dict:
        progress(0.05, desc="generating the source (with the classifier's trace)")
        trajectory = self.studio.generate(prompt, seed)
        folder = self.studio.new_folder()
        wav = self.studio.write_wav(folder, "source.wav", trajectory.audio)
        return {"trajectory": trajectory, "recording": None, "folder": folder, "wav": str(wav), "seed": seed}

    def _inverted(self, file, source: str, prompt: str, seed, progress) -> dict:
        progress(0.05, desc="inverting the recording")
        trajectory, recording = self.studio.invert(file, source, prompt, seed)
        folder = self.studio.new_folder()
        wav = self.studio.write_wav(folder, "reconstruction.wav", trajectory.audio, recording)
        return {"trajectory": trajectory, "recording": recording, "folder": folder, "wav": str(wav), "seed": seed}

    def _edit(self, state: dict, source, target, strategy: str, guidance=None, progress=None) -> dict:
        if not state or state.get("trajectory") is None:
            raise StudioError("make a source first: generate one from a prompt, or upload a recording")
        words = word_pairs(source, target)
        strategy = (strategy or "").strip() or self.studio.default_strategy(words)
        if progress is not None:
            progress(0.5, desc=f"editing ({strategy})")
        edit = self.studio.edit_once(state["trajectory"], words, strategy, state["seed"], guidance)
        record = self.studio.record(state["trajectory"], words, edit, strategy, state["seed"], state["recording"])
        folder = self.studio.new_folder()
        record["files"] = {"source" if state["recording"] is None else "reconstruction": Path(state["wav"]).name}
        wav = None
        if edit.audio is not None:
            wav = str(self.studio.write_wav(folder, "edit.wav", edit.audio, state["recording"]))
            record["files"]["edit"] = "edit.wav"
        json_path = str(self.studio.write_json(folder, "edit.json", record))
        return {"edit": edit, "record": record, "wav": wav, "json": json_path, "folder": folder, "words": words}

    # -- the API ----------------------------------------------------------------------------------
    def api_generate(self, prompt: str, seed: float, progress=PROGRESS):
        state = self._source(prompt, seed, progress)
        return state["wav"], state["trajectory"].trace.to_dict() if state["trajectory"].trace is not None else None

    def api_edit(self, prompt: str, source: str, target: str, strategy: str, seed: float, progress=PROGRESS):
        self.studio.target_prompt(prompt, word_pairs(source, target))  # bad words: say so before generating
        state = self._source(prompt, seed, progress)
        done = self._edit(state, source, target, strategy, progress=progress)
        return state["wav"], done["wav"], done["record"]

    def api_edit_audio(self, file: str, source: str, target: str, strategy: str, progress=PROGRESS):
        words, seed = word_pairs(source, target), self.studio.config["real_audio"]["seed"]
        if len(words) == 1:  # any length, as difftone edit --audio
            return self._edited_upload(file, words, strategy, seed, progress)
        state = self._inverted(file, source, "", seed, progress)  # several words: one window, as difftone edit
        done = self._edit(state, source, target, strategy, progress=progress)
        return state["wav"], done["wav"], done["record"]

    def _edited_upload(self, file, words, strategy: str, seed, progress):
        from difftone.long_audio import write_exact

        progress(0.05, desc="inverting and editing the recording")
        result, recording, prompt, strategy = self.studio.edit_upload(file, words, strategy, seed)
        record = self.studio.upload_record(result, recording, prompt, words, strategy, seed)
        folder = self.studio.new_folder()
        recon = write_exact(folder / "reconstruction.wav", result.reconstruction, result.sample_rate, result.subtype)
        record["files"], wav = {"reconstruction": recon.name}, None
        if result.outputs[0] is not None:
            wav = str(write_exact(folder / "edit.wav", result.outputs[0], result.sample_rate, result.subtype))
            record["files"]["edit"] = "edit.wav"
        self.studio.write_json(folder, "edit.json", record)
        return str(recon), wav, record

    # -- the page ---------------------------------------------------------------------------------
    def _trace_figure(self, state: dict, swap_step=None, reason=None):
        from difftone.report.trace_plot import plot_trace

        trajectory = state["trajectory"]
        if trajectory.trace is None:
            return None
        return plot_trace(trajectory.trace, trajectory.sigmas, swap_step, reason, width=8.0)

    def _source_outputs(self, state: dict):
        t = state["trajectory"]
        what = "source" if state["recording"] is None else "reconstruction"
        mel = _mel_png(t.audio, t.sample_rate, state["folder"] / f"{what}_mel.png", f"{what}: {t.prompt}")
        return state, state["wav"], mel, self._trace_figure(state)

    def ui_generate(self, prompt, seed, progress=PROGRESS):
        return self._source_outputs(self._source(prompt, seed, progress))

    def ui_invert(self, file, source, prompt, progress=PROGRESS):
        return self._source_outputs(
            self._inverted(file, source, prompt, self.studio.config["real_audio"]["seed"], progress)
        )

    def ui_edit(self, state, source, target, strategy, manual_step, guidance, progress=PROGRESS):
        if strategy == MANUAL:
            strategy = f"fixed:{int(manual_step)}"
        done = self._edit(state, source, target, strategy, guidance, progress)
        edit, record = done["edit"], done["record"]
        mel = None
        if edit.audio is not None:
            sr = state["trajectory"].sample_rate
            mel = _mel_png(
                edit.audio,
                sr,
                done["folder"] / "edit_mel.png",
                f"edit: {record['target_prompt']} (step {edit.swap_step})",
            )
        files = [state["wav"], done["json"]] + ([done["wav"]] if done["wav"] else [])
        why = f"**Swap step {edit.swap_step} of {state['trajectory'].steps}** ({record['strategy']}): {edit.reason}"
        slider = int(edit.swap_step) if edit.swap_step is not None else int(manual_step)
        return (
            done["wav"],
            mel,
            record,
            files,
            self._trace_figure(state, edit.swap_step, edit.reason),
            why,
            slider,
            {**state, "chosen": edit.swap_step, "words": done["words"]},
        )

    def ui_hear_steps(self, state, source, target, guidance, progress=PROGRESS):
        if not state or state.get("trajectory") is None:
            raise StudioError("make a source first: generate one from a prompt, or upload a recording")
        words = word_pairs(source, target)
        trajectory = state["trajectory"]
        steps = self.studio.hear_steps(state.get("chosen"))
        if progress is not None:
            progress(0.1, desc=f"editing at {len(steps)} steps in one batch")
        edits = self.studio.edit_at_steps(trajectory, words, steps, guidance)
        folder = self.studio.new_folder()
        slots = []
        for k, e in zip(steps, edits):
            wav = str(self.studio.write_wav(folder, f"step_{k:03d}.wav", e.audio, state["recording"]))
            chosen = k == state.get("chosen")
            label = (
                f"★ chosen: step {k}/{trajectory.steps}" if chosen else f"step {k}/{trajectory.steps}"
            ) + f" (σ = {trajectory.sigmas[k]:.3g})"
            slots.append(
                gr.update(value=wav, label=label, visible=True, elem_classes=["chosen-step"] if chosen else [])
            )
        slots += [gr.update(value=None, visible=False)] * (self.slot_count - len(slots))
        return slots


def build_app(studio: Studio):
    """The Gradio Blocks of the studio (not launched)."""
    app = StudioApp(studio)
    config = studio.config
    n = studio.steps
    instruments = instrument_choices(config)
    app.slot_count = int(config["studio"]["steps_to_hear"]) + 1

    handler = _page_errors
    with gr.Blocks(title="difftone studio", analytics_enabled=False) as demo:
        gr.Markdown(
            "# difftone studio\nType a prompt or drop in a recording, pick a target instrument, see where "
            "Diff-TONE swaps the prompt and why, then move the step and listen."
        )
        if studio.resolved.random_sound:
            gr.Markdown(f"⚠️ {studio.resolved.random_sound}", elem_id="banner")
        gr.Markdown(
            f"Model `{studio.resolved.spec}` on {studio.resolved.device} ({studio.resolved.dtype}), "
            f"{n} steps, {studio.duration:g} s, classifier: "
            f"{'none' if studio.classifier is None else (studio.resolved.classifier or 'random (tiny)')}",
            elem_id="model-line",
        )
        state = gr.State(None)
        with gr.Row():
            source = gr.Dropdown(
                instruments,
                value=["pia"],
                multiselect=True,
                label="source instrument(s)",
                info="named in the prompt, in order",
                elem_id="source",
            )
            target = gr.Dropdown(
                instruments,
                value=["vio"],
                multiselect=True,
                label="target instrument(s)",
                info="one per source",
                elem_id="target",
            )
        with gr.Tabs():
            with gr.Tab("From a prompt"):
                with gr.Row():
                    prompt = gr.Textbox("A soft piano melody", label="prompt", scale=4, elem_id="prompt")
                    seed = gr.Number(0, label="seed", precision=0, minimum=0, scale=1, elem_id="seed")
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Tab("From a recording"):
                upload = gr.Audio(
                    sources=["upload", "microphone"], type="filepath", label="recording", elem_id="upload"
                )
                upload_prompt = gr.Textbox(
                    "", label="prompt (optional)", placeholder=config["real_audio"]["source_prompt"]
                )
                invert = gr.Button("Invert", variant="primary", elem_id="invert")
        with gr.Row():
            strategy = gr.Dropdown(
                strategy_choices(),
                value="difftone",
                label="strategy",
                elem_id="strategy",
                info="fixed: the manual step",
            )
            manual = gr.Slider(0, n, value=n // 2, step=1, label="manual step (moves the swap)", elem_id="manual")
            guidance = gr.Slider(
                0, 15, value=studio.guidance, step=0.5, label="guidance of the edit", elem_id="guidance"
            )
        edit_button = gr.Button("Edit", variant="primary", elem_id="edit")
        why = gr.Markdown(elem_id="why")
        trace = gr.Plot(label="classifier on x0_hat at every step", elem_id="trace")
        with gr.Row():
            with gr.Column(min_width=280):
                source_audio = gr.Audio(
                    label="source / reconstruction", type="filepath", interactive=False, elem_id="source-audio"
                )
                source_mel = gr.Image(
                    label="source mel spectrogram", type="filepath", interactive=False, elem_id="source-mel"
                )
            with gr.Column(min_width=280):
                edit_audio = gr.Audio(label="edit", type="filepath", interactive=False, elem_id="edit-audio")
                edit_mel = gr.Image(
                    label="edit mel spectrogram", type="filepath", interactive=False, elem_id="edit-mel"
                )
        hear = gr.Button("Hear every step", elem_id="hear")
        with gr.Row(elem_id="steps"):
            slots = [
                gr.Audio(type="filepath", interactive=False, visible=False, min_width=160, elem_id=f"step-{i}")
                for i in range(app.slot_count)
            ]
        with gr.Accordion("edit record and downloads", open=False):
            downloads = gr.File(
                label="downloads (WAV, JSON)", file_count="multiple", interactive=False, elem_id="downloads"
            )
            record = gr.JSON(label="edit record", elem_id="record")

        source_outputs = [state, source_audio, source_mel, trace]
        edit_inputs = [state, source, target, strategy, manual, guidance]
        edit_outputs = [edit_audio, edit_mel, record, downloads, trace, why, manual, state]
        for button, fn, inputs in (
            (generate, app.ui_generate, [prompt, seed]),
            (invert, app.ui_invert, [upload, source, upload_prompt]),
        ):
            button.click(handler(fn), inputs, source_outputs, api_visibility="private", **QUEUE).success(
                handler(app.ui_edit), edit_inputs, edit_outputs, api_visibility="private", **QUEUE
            )
        edit_button.click(handler(app.ui_edit), edit_inputs, edit_outputs, api_visibility="private", **QUEUE)
        manual.release(lambda: MANUAL, None, strategy, api_visibility="private", queue=False).then(
            handler(app.ui_edit), edit_inputs, edit_outputs, api_visibility="private", **QUEUE
        )
        hear.click(
            handler(app.ui_hear_steps), [state, source, target, guidance], slots, api_visibility="private", **QUEUE
        )

        with gr.Column(visible=False):  # the API's own inputs and outputs (gradio_client)
            a_prompt, a_source, a_target, a_strategy = (
                gr.Textbox(label=name) for name in ("prompt", "source", "target", "strategy")
            )
            a_seed = gr.Number(precision=0, label="seed")
            a_file = gr.Audio(type="filepath", label="file")
            a_src_audio, a_edit_audio = (
                gr.Audio(type="filepath", label="source"),
                gr.Audio(type="filepath", label="edit"),
            )
            a_trace, a_record = gr.JSON(label="trace"), gr.JSON(label="record")
            for name, fn, inputs, outputs in (
                ("generate", app.api_generate, [a_prompt, a_seed], [a_src_audio, a_trace]),
                (
                    "edit",
                    app.api_edit,
                    [a_prompt, a_source, a_target, a_strategy, a_seed],
                    [a_src_audio, a_edit_audio, a_record],
                ),
                (
                    "edit_audio",
                    app.api_edit_audio,
                    [a_file, a_source, a_target, a_strategy],
                    [a_src_audio, a_edit_audio, a_record],
                ),
            ):
                gr.Button(visible=False).click(handler(fn), inputs, outputs, api_name=name, **QUEUE)
    demo.studio = studio  # the loaded model, for the benchmark
    return demo


def serve(
    resolved: Resolved,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    block: bool = True,
    out_dir: str | Path | None = None,
):
    """Load the model, build the page and serve it on ``host:port`` (no share link). Only the studio's own
    temporary folder (and Gradio's upload cache) can be read from the page. ``block=False``: return
    ``(demo, url)`` with the server running in a thread (tests)."""
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="difftone-studio-")).resolve()
    studio = Studio(resolved, out_dir)
    demo = build_app(studio)
    demo.queue(default_concurrency_limit=1)
    limits = resolved.config["studio"]
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        allowed_paths=[str(out_dir)],
        max_file_size=int(limits["max_upload_mb"] * 1e6),
        prevent_thread_lock=not block,
        ssr_mode=False,
        quiet=not block,
        css=CSS,
        footer_links=["api"],
        show_error=True,
    )
    return demo, url
