#!/usr/bin/env python3
"""Reads a TensorBoard log folder written by pix2pix-swift's EventWriter with TensorBoard's
own reader and prints what it found. Run by hand where tensorboard is installed (CI has it
not):

    TENSORBOARD_SAMPLE_DIR=/tmp/tb swift test --filter ReportTests/tensorBoardSampleLog
    python3 Tests/TrainingTests/check_tensorboard.py /tmp/tb

Exits non-zero when the folder holds no scalars, or an image that PIL cannot decode
(when PIL is installed).
"""
import io
import sys

from tensorboard.backend.event_processing import event_accumulator


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} LOGDIR", file=sys.stderr)
        return 2
    acc = event_accumulator.EventAccumulator(
        sys.argv[1], size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0})
    acc.Reload()
    tags = acc.Tags()
    print("file_version:", acc.file_version)
    ok = bool(tags["scalars"])
    for tag in tags["scalars"]:
        events = acc.Scalars(tag)
        values = ", ".join(f"{e.step}:{e.value:.4g}" for e in events)
        print(f"scalar {tag}: {len(events)} points [{values}]")
    for tag in tags["images"]:
        for e in acc.Images(tag):
            line = f"image {tag}: step {e.step}, {e.width}x{e.height}, {len(e.encoded_image_string)} bytes PNG"
            try:
                from PIL import Image
                im = Image.open(io.BytesIO(e.encoded_image_string))
                im.load()
                line += f", PIL decodes {im.size[0]}x{im.size[1]} {im.mode}"
            except ImportError:
                pass
            except Exception as err:  # a PNG that does not decode is a failure
                line += f", PIL cannot decode: {err}"
                ok = False
            print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
