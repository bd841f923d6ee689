"""A corpus of bad, odd and hostile inputs, each built at test time into a folder (PyAV or raw
bytes; no ffmpeg binary, nothing downloaded).

Each :class:`Kind` says how its file is built and what the CLI and the upload API should make of
it. Expectations are ``"verdict"`` (analysed: REAL, FAKE or INCONCLUSIVE), ``"error"`` (a clear
refusal) or ``"either"`` (both are honest answers, e.g. a truncated file that may still decode);
whatever the expectation, no input may produce a traceback, an "internal error" or a 500.
Media are tiny and short so that the whole corpus goes through both paths in about a minute.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

import video_factory

SIZE = (64, 64)
FPS = 25
FRAMES = 10
NO_BFRAMES = {"preset": "ultrafast", "g": "5", "bf": "0"}
BOMB_SIDE = 4500  # over the upload limit's 4096 pixels a side, under probe's 8192x8192 guard


class Unavailable(Exception):
    """This PyAV build cannot make the kind (an encoder or muxer is missing): skip it."""


@dataclass(frozen=True)
class Expect:
    cli: str = "either"
    """``"verdict"``, ``"error"`` or ``"either"``."""
    api: int | str = "either"
    """``"accepted"`` (202, then the job ends ``done`` or ``failed``), an HTTP status the upload is
    refused with, or ``"either"`` (accepted or refused with a 4xx)."""
    code: str | None = None
    """The API's error code when refused (checked when given)."""
    words: str | None = None
    """Words the CLI's error message contains, when given."""
    api_words: str | None = None
    """Words the API's refusal message contains, when given."""
    video: tuple[tuple[str, object], ...] = ()
    """Fields of the probed video (the CLI result's ``video``) and their expected values."""
    last_sample_after: float | None = None
    """Seconds after which the CLI's last sampled frame lies (samples cover the whole video)."""
    face: bool = False
    """The CLI finds a face (e.g. one stored sideways: frames are turned upright first)."""


@dataclass(frozen=True)
class Kind:
    name: str
    file_name: str
    build: Callable[[Path], object]
    """Writes the file at the path given."""
    expect: Expect
    upload_name: str | None = None
    """The name the API client sends (default: ``file_name``); hostile names are tried here."""
    cli_arg: Callable[[Path], str] | None = None
    """The argument the CLI gets, from the built file's path (default: that path)."""


# -- encoders ------------------------------------------------------------------------------------


def require(*codecs: str) -> None:
    for name in codecs:
        try:
            av.Codec(name, "w")
        except Exception as exc:
            raise Unavailable(f"this PyAV build has no {name!r} encoder") from exc


def frames(n: int = FRAMES, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    return [video_factory.index_frame(i, size) for i in range(n)]


def clip(
    path: Path,
    n: int = FRAMES,
    size: tuple[int, int] = SIZE,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    **kwargs: object,
) -> Path:
    """``n`` self-numbered frames (see ``video_factory.index_frame``), no B-frames for H.264."""
    require(codec)
    if options is None and codec == "libx264":
        options = NO_BFRAMES
    return video_factory.encode_video(
        path,
        frames(n, size),
        codec=codec,
        options=options,
        **kwargs,  # type: ignore[arg-type]
    )


def face_frames(n: int = 6, size: int = 128) -> list[np.ndarray]:
    """The astronaut's head and shoulders, big enough in a small frame to be detected."""
    head = video_factory.astronaut()[10:250, 110:350]
    photo = cv2.resize(head, (size, size), interpolation=cv2.INTER_AREA)
    return [np.roll(photo, i, axis=1) for i in range(n)]


def rotated(degrees: int) -> Callable[[Path], None]:
    """A face stored turned, with display-matrix metadata that turns it back."""

    def build(path: Path) -> None:
        k = {90: -1, 180: 2, 270: 1}[degrees]  # the stored picture, turned clockwise
        stored = [np.ascontiguousarray(np.rot90(f, k=k)) for f in face_frames()]
        video_factory.write_video(path, stored, fps=FPS, rotation=degrees)

    return build


# -- long and broken timing (also used by tests/media) --------------------------------------------


def long_mkv(
    path: Path,
    n: int,
    fps: int = 120,
    size: tuple[int, int] = (32, 32),
    gop: int = 10**6,
    numbered: bool = False,
    container_options: dict[str, str] | None = None,
) -> Path:
    """A long Matroska file made cheap: tiny frames, high rate, (by default) one keyframe. With
    ``numbered`` frame ``i`` shows ``i`` (64x64 at least, see ``video_factory.index_frame``);
    otherwise every frame is the same grey picture (about 40k frames a second to encode)."""
    options = {
        "preset": "ultrafast",
        "g": str(gop),
        "keyint_min": str(min(gop, 10**6)),
        "sc_threshold": "0",
        "bf": "0",
        "crf": "30",
    }
    with av.open(str(path), "w", format="matroska", options=container_options) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options=options)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        grey = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 100, np.uint8), "rgb24")
        grey = grey.reformat(format="yuv420p")
        for i in range(n):
            if numbered:
                frame = av.VideoFrame.from_ndarray(video_factory.index_frame(i, size), "rgb24")
            else:
                frame = grey
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def equal_pts_mkv(path: Path, n: int = 20) -> Path:
    """Matroska whose every frame has pts = dts = 0 (frame ``i`` shows ``i``)."""
    packets = []
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("libx264", rate=FPS, options=NO_BFRAMES)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for i, image in enumerate(frames(n)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            packets += stream.encode(frame)
        packets += stream.encode()
        for packet in packets:
            packet.pts = packet.dts = 0
            out.mux(packet)
    return path


def zero_stts_mp4(path: Path, n: int = 20) -> Path:
    """MP4 whose time-to-sample table gives every frame a zero duration: all at time 0."""
    clip(path, n)
    data = bytearray(path.read_bytes())
    box = data.find(b"stts")
    entries = struct.unpack(">I", data[box + 8 : box + 12])[0]
    for k in range(entries):
        struct.pack_into(">I", data, box + 12 + 8 * k + 4, 0)  # (sample_count, sample_delta)
    path.write_bytes(bytes(data))
    return path


def y4m_header(path: Path, width: int, height: int, data: int = 1000) -> Path:
    """A YUV4MPEG2 header declaring ``width`` x ``height`` frames over a few bytes."""
    header = f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode()
    path.write_bytes(header + bytes(data))
    return path


# -- builders -------------------------------------------------------------------------------------


def _mp4(path: Path) -> None:
    clip(path)


def _faststart(path: Path) -> None:
    clip(path, 30, container_options={"movflags": "faststart"})


def _truncated(build: Callable[[Path], None], keep: float | int) -> Callable[[Path], None]:
    def cut(path: Path) -> None:
        full = path.with_name("full-" + path.name)
        build(full)
        data = full.read_bytes()
        full.unlink()
        n = keep if isinstance(keep, int) else int(len(data) * keep)
        path.write_bytes(data[:n])

    return cut


def _mp4_without_moov(path: Path) -> None:
    """The index box cut out of a faststart MP4: ``ftyp`` then ``mdat``, nothing to say where
    frames are. (Renaming it is not enough: FFmpeg finds an index hidden in a ``free`` box.)"""
    _faststart(path)
    data = path.read_bytes()
    at = data.find(b"moov") - 4
    size = struct.unpack(">I", data[at : at + 4])[0]
    path.write_bytes(data[:at] + data[at + size :])


def _zero_frames(container_format: str) -> Callable[[Path], None]:
    """A video stream declared in a header that is written, with not one frame after it."""

    def build(path: Path) -> None:
        with av.open(str(path), "w", format=container_format) as out:
            stream = out.add_stream("libx264", rate=FPS)
            stream.width, stream.height = SIZE
            stream.pix_fmt = "yuv420p"
            out.start_encoding()

    return build


def _audio(codec: str, container_format: str) -> Callable[[Path], None]:
    """A second of silence, no video stream."""

    def build(path: Path) -> None:
        require(codec)
        with av.open(str(path), "w", format=container_format) as out:
            stream = out.add_stream(codec, rate=44100)
            stream.layout = "mono"
            context = stream.codec_context
            size = context.frame_size or 1152
            for k in range(44100 // size):
                frame = av.AudioFrame(format=context.format.name, layout="mono", samples=size)
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
                frame.sample_rate = 44100
                frame.pts = k * size
                out.mux(stream.encode(frame))
            out.mux(stream.encode())

    return build


def _bomb(path: Path) -> None:
    """A real, decodable 4500x4500 frame (20 Mpixels) in a 60 KB file."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "51"})
        stream.width = stream.height = BOMB_SIDE
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame(BOMB_SIDE, BOMB_SIDE, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode())


def _lying_mjpeg(path: Path) -> None:
    """MJPEG in AVI: the container says 16x16, every JPEG says 12000x12000."""
    clip(path, 3, size=(16, 16), codec="mjpeg", pix_fmt="yuvj420p")
    data = bytearray(path.read_bytes())
    at = data.find(b"\xff\xc0")
    while at >= 0:
        struct.pack_into(">HH", data, at + 5, 12000, 12000)  # SOF0: height, width
        at = data.find(b"\xff\xc0", at + 2)
    path.write_bytes(bytes(data))


def _odd(width: int, height: int) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        images = [np.full((height, width, 3), 30 * i, np.uint8) for i in range(5)]
        video_factory.encode_video(path, images, codec="libx264", pix_fmt="yuv444p")

    return build


def _vfr(container_format: str | None) -> Callable[[Path], None]:
    times = [0.0, 0.04, 0.08, 0.5, 0.55, 1.3, 1.34, 1.38, 2.0]

    def build(path: Path) -> None:
        clip(path, len(times), times=times, container_format=container_format)

    return build


def _long(path: Path) -> None:
    # 12 minutes at 120 fps: 86,400 packets, past the 50,000 a packet pass reads (~2.5 s).
    long_mkv(path, 12 * 60 * 120)


def _jpeg_then_mp4(path: Path) -> None:
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(video_factory.astronaut(), cv2.COLOR_RGB2BGR))
    assert ok
    mp4 = path.with_name("inner.mp4")
    clip(mp4)
    path.write_bytes(jpeg.tobytes() + mp4.read_bytes())
    mp4.unlink()


def _zip(path: Path) -> None:
    inner = path.with_name("inner.mp4")
    clip(inner)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(inner, "video.mp4")
    inner.unlink()
    path.write_bytes(buffer.getvalue())


def _html(path: Path) -> None:
    path.write_text(
        "<!doctype html><html><body><script>alert(1)</script>"
        "<video src='x.mp4'></video></body></html>\n"
    )


def _gif(path: Path) -> None:
    require("gif")
    video_factory.encode_video(path, frames(8), codec="gif", pix_fmt="rgb8", container_format="gif")


def _png(path: Path) -> None:
    cv2.imwrite(str(path), video_factory.index_frame(7))


def _tga(path: Path) -> None:
    """A picture FFmpeg reads but the photo reader does not take: refused as a still image."""
    from PIL import Image

    Image.fromarray(video_factory.index_frame(7)).save(path, format="TGA")


def _raw_h264(path: Path) -> None:
    clip(path, container_format="h264")


def _ts_offset(path: Path) -> None:
    # The first frame at 10 s (a cut from a broadcast): timestamps do not start at zero.
    clip(path, times=[10 + i / FPS for i in range(FRAMES)], container_format="mpegts")


def _random(path: Path) -> None:
    path.write_bytes(np.random.default_rng(11).bytes(50_000))


def _zeros(path: Path) -> None:
    path.write_bytes(bytes(200_000))


def _text(path: Path) -> None:
    path.write_text("These are not the frames you are looking for.\n" * 40)


def _corrupt_middle(path: Path) -> None:
    clip(path, 30, container_options={"movflags": "faststart"})
    data = bytearray(path.read_bytes())
    middle = (data.find(b"mdat") + len(data)) // 2
    data[middle : middle + 300] = np.random.default_rng(5).bytes(300)
    path.write_bytes(bytes(data))


def _codec(codec: str, container_format: str | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    def build(path: Path) -> None:
        clip(path, codec=codec, container_format=container_format, **kwargs)  # type: ignore[arg-type]

    return build


def _theora(path: Path) -> None:
    require("libtheora")
    clip(path, codec="libtheora", container_format="ogg")


def _h263(path: Path) -> None:
    # H.263 allows a few sizes only; QCIF is one.
    clip(path, 5, size=(176, 144), codec="h263", container_format="3gp")


def _live_webm(path: Path) -> None:
    require("libvpx")
    # As a browser's MediaRecorder writes it: no cues (index), no duration.
    clip(
        path,
        codec="libvpx",
        container_format="webm",
        options={"deadline": "realtime", "g": "5"},
        container_options={"live": "1"},
    )


def _fragmented(path: Path) -> None:
    clip(path, 20, container_options={"movflags": "frag_keyframe+empty_moov"})


def _distinct_mp4(n: int, folders: tuple[str, ...] = ()) -> Callable[[Path], None]:
    """Valid tiny clips of different lengths (distinct content: not deduplicated), with empty
    ``folders`` beside them."""

    def build(path: Path) -> None:
        for folder in folders:
            (path.parent / folder).mkdir(parents=True, exist_ok=True)
        clip(path, n)

    return build


VERDICT = Expect(cli="verdict", api="accepted")
REFUSED = Expect(cli="error", api=415, code="not_a_video")
EITHER = Expect()
PHOTO = Expect("verdict", "accepted", video=(("kind", "image"), ("frame_count", 1)))
PHOTO_WITH_FACE = Expect(
    "verdict", "accepted", video=(("kind", "image"), ("container", "JPEG")), face=True
)


def upright_face(rotation: int) -> Expect:
    return Expect(
        "verdict",
        "accepted",
        video=(("rotation", rotation), ("width", 128), ("height", 128)),
        face=True,
    )


ONLY_AUDIO = Expect("error", 415, "not_a_video", "only audio", "only audio")
EQUAL_TIMES = Expect("verdict", "accepted", video=(("synthetic_timing", True), ("frame_count", 20)))

KINDS: list[Kind] = [
    # Controls and container layouts.
    Kind("mp4_moov_at_end", "clip.mp4", _mp4, VERDICT),
    Kind("mp4_faststart", "fast.mp4", _faststart, VERDICT),
    Kind("mp4_fragmented", "frag.mp4", _fragmented, VERDICT),
    Kind(
        "mp4_without_moov",
        "nomoov.mp4",
        _mp4_without_moov,
        Expect("error", 415, "not_a_video", "index", "index"),
    ),
    Kind("mp4_corrupt_middle", "damaged.mp4", _corrupt_middle, VERDICT),
    # Truncations at several offsets.
    Kind("cut_mp4_header", "cut_head.mp4", _truncated(_mp4, 40), REFUSED),
    Kind("cut_mp4_half", "cut_half.mp4", _truncated(_mp4, 0.5), REFUSED),
    Kind("cut_mp4_99pct", "cut_99.mp4", _truncated(_mp4, 0.99), EITHER),
    Kind("cut_faststart_25pct", "cut_fast25.mp4", _truncated(_faststart, 0.25), EITHER),
    Kind("cut_faststart_60pct", "cut_fast60.mp4", _truncated(_faststart, 0.6), EITHER),
    Kind("cut_faststart_95pct", "cut_fast95.mp4", _truncated(_faststart, 0.95), EITHER),
    Kind("cut_mkv_half", "cut.mkv", _truncated(_codec("libx264", "matroska"), 0.5), EITHER),
    Kind("cut_webm_tiny", "cut.webm", _truncated(_codec("libvpx", "webm"), 200), EITHER),
    Kind("cut_ts_half", "cut.ts", _truncated(_codec("libx264", "mpegts"), 0.5), EITHER),
    # No video.
    Kind("audio_aac", "voice.m4a", _audio("aac", "ipod"), ONLY_AUDIO),
    Kind(
        "audio_mp3",
        "voice.mp3",
        _audio("libmp3lame", "mp3"),
        ONLY_AUDIO,
    ),
    Kind("zero_frames_mp4", "none.mp4", _zero_frames("mp4"), REFUSED),
    Kind("zero_frames_mkv", "none.mkv", _zero_frames("matroska"), REFUSED),
    # Sizes.
    Kind(
        "huge_declared_y4m",
        "huge.y4m",
        lambda path: y4m_header(path, 12000, 12000),
        Expect("error", 422, "resolution_too_high", "12000x12000", "12000×12000"),
    ),
    Kind(
        "bomb_4500x4500",
        "bomb.mp4",
        _bomb,
        Expect("verdict", 422, "resolution_too_high", api_words="4500×4500"),
    ),
    Kind("lying_mjpeg_header", "liar.avi", _lying_mjpeg, REFUSED),
    Kind("one_pixel", "1x1.mp4", _odd(1, 1), VERDICT),
    Kind("odd_3x5", "3x5.mp4", _odd(3, 5), VERDICT),
    # Rotation metadata, timing.
    # Display matrices turn counter-clockwise; VideoInfo.rotation says the clockwise turn.
    Kind("rotate_90", "rot90.mp4", rotated(90), upright_face(270)),
    Kind("rotate_180", "rot180.mp4", rotated(180), upright_face(180)),
    Kind("rotate_270", "rot270.mp4", rotated(270), upright_face(90)),
    Kind("vfr_mp4", "vfr.mp4", _vfr(None), VERDICT),
    Kind("vfr_ts", "vfr.ts", _vfr("mpegts"), VERDICT),
    Kind("equal_pts_mkv", "equal.mkv", equal_pts_mkv, EQUAL_TIMES),
    Kind("equal_pts_mp4", "equal.mp4", zero_stts_mp4, EQUAL_TIMES),
    Kind(
        "long_mkv_12min_120fps",
        "long.mkv",
        _long,
        Expect(
            "verdict",
            422,
            "video_too_long",
            api_words="lasts 12 min",
            video=(("duration_s", 720.0), ("duration_source", "container")),
            # The last of 4 samples is due at 630 s and may move up to a quarter of the 180 s
            # spacing to a cheaper frame (DFD_SAMPLE_SNAP); either way far past the 417 s that
            # a packet pass reads.
            last_sample_after=580.0,
        ),
    ),
    Kind("ts_start_offset", "offset.ts", _ts_offset, VERDICT),
    Kind("raw_h264_annexb", "raw.h264", _raw_h264, VERDICT),
    # Not videos at all.
    # A JPEG with a video after it (as "motion photos" are): read as the photo it starts with.
    Kind("jpeg_with_mp4_appended", "polyglot.jpg", _jpeg_then_mp4, PHOTO_WITH_FACE),
    Kind("zip_named_mp4", "archive.mp4", _zip, REFUSED),
    Kind("html_named_mp4", "page.mp4", _html, REFUSED),
    Kind("animated_gif", "anim.gif", _gif, VERDICT),
    Kind("png_image", "still.png", _png, PHOTO),
    Kind(
        "tga_image",
        "still.tga",
        _tga,
        # The CLI's file keeps its name, by which FFmpeg knows a TGA; an upload is stored
        # without it, so the server says only that it cannot read it.
        Expect("error", 415, "not_a_video", "still image"),
    ),
    Kind(
        "empty_file",
        "empty.mp4",
        lambda path: path.write_bytes(b""),
        Expect("error", 400, "empty_file", "empty"),
    ),
    Kind("random_bytes", "random.mp4", _random, REFUSED),
    Kind("all_zero_bytes", "zeros.mp4", _zeros, REFUSED),
    Kind("text_named_mp4", "notes.mp4", _text, REFUSED),
    Kind("mp4_named_txt", "clip.txt", _codec("libx264", "mp4", n=11), VERDICT),
    # Containers with less common codecs.
    Kind("mkv_mpeg4_part2", "mpeg4.mkv", _codec("mpeg4", "matroska"), VERDICT),
    Kind("avi_mjpeg", "mjpeg.avi", _codec("mjpeg", "avi", pix_fmt="yuvj420p"), VERDICT),
    Kind("avi_msmpeg4v2", "msmpeg4.avi", _codec("msmpeg4v2", "avi"), VERDICT),
    Kind(
        "webm_vp8", "vp8.webm", _codec("libvpx", "webm", options={"deadline": "realtime"}), VERDICT
    ),
    Kind(
        "webm_vp9",
        "vp9.webm",
        _codec("libvpx-vp9", "webm", options={"deadline": "realtime", "cpu-used": "8"}),
        VERDICT,
    ),
    Kind("webm_live_no_cues", "live.webm", _live_webm, VERDICT),
    Kind("mov_mpeg4", "clip.mov", _codec("mpeg4", "mov"), VERDICT),
    Kind("flv_flv1", "clip.flv", _codec("flv", "flv"), VERDICT),
    Kind("ogg_vp8", "vp8.ogv", _codec("libvpx", "ogg", options={"deadline": "realtime"}), VERDICT),
    Kind("ogg_theora", "theora.ogv", _theora, VERDICT),
    Kind("3gp_h263", "clip.3gp", _h263, VERDICT),
    Kind("mpeg_ps_mpeg1", "clip.mpg", _codec("mpeg1video", "mpeg"), VERDICT),
    # Hostile names (valid content; the API gets the name from the client, the CLI from disk).
    Kind(
        "name_dot_dot",
        "dotdot.mp4",
        _distinct_mp4(3, folders=("a", "a/b")),
        VERDICT,
        upload_name="../../x.mp4",
        cli_arg=lambda path: str(path.parent / "a" / "b" / ".." / ".." / path.name),
    ),
    Kind(
        "name_control_chars",
        "ctl\x01\x1b[31m\x7f\tred.mp4",
        _distinct_mp4(4),
        VERDICT,
        upload_name="ctl\x01\x1b[31m\x7f\tred\x85.mp4",
    ),
    # No file system stores a 300-character name: the CLI is given one that cannot exist.
    Kind(
        "name_300_chars",
        "long_name.mp4",
        _distinct_mp4(5),
        Expect("error", "accepted", words="cannot be read"),
        upload_name="n" * 296 + ".mp4",
        cli_arg=lambda path: str(path.parent / ("n" * 296 + ".mp4")),
    ),
    Kind(
        "name_script_tag",
        "<script>alert(1)<\\script>.mp4",
        _distinct_mp4(6),
        VERDICT,
        upload_name="<script>alert(1)</script>.mp4",
    ),
    Kind("name_rtl_override", "clip\u202egpj.mp4", _distinct_mp4(7), VERDICT),
]

BY_NAME = {kind.name: kind for kind in KINDS}


class Corpus:
    """Builds each kind on first use into ``root`` (one folder per kind), once per session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}
        self._unavailable: dict[str, str] = {}

    def path(self, kind: Kind) -> Path:
        """The kind's file; raises ``Unavailable`` when this PyAV build cannot make it."""
        if kind.name in self._unavailable:
            raise Unavailable(self._unavailable[kind.name])
        if kind.name not in self._built:
            folder = self.root / kind.name
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / kind.file_name
            try:
                kind.build(path)
            except Unavailable as exc:
                self._unavailable[kind.name] = str(exc)
                raise
            self._built[kind.name] = path
        return self._built[kind.name]


def built(corpus: Corpus, kind: Kind) -> Path:
    """The kind's file, or a pytest skip saying what this PyAV build lacks."""
    import pytest

    try:
        return corpus.path(kind)
    except Unavailable as exc:
        pytest.skip(f"{kind.name}: {exc}")
