// C wrappers around libjpeg-turbo and libpng that turn their longjmp error handling into a
// return code plus a one-line message, so a corrupt file can never abort the process.
// Swift calls only these functions; each one does setjmp in its own C frame.
//
// Decoding is two calls: `*_info` parses the header (cheap) so the caller can refuse huge
// dimensions before allocating, then `*_decode` fills a caller-owned buffer.
#ifndef PIX_IMAGE_SHIM_H
#define PIX_IMAGE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define PIX_MESSAGE_CAPACITY 200

/// What a header says about the pixels that `*_decode` will write.
typedef struct {
    int width;
    int height;
    /// Samples per pixel in the decoded output. JPEG: 1 gray, 3 RGB, 4 CMYK (Adobe
    /// inverted, as stored). PNG: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (palette expanded).
    int channels;
    /// Bytes per sample in the decoded output: 1, or 2 (big-endian) for 16-bit gray PNG.
    int bytes_per_sample;
    /// 1 for a progressive JPEG or an interlaced PNG.
    int progressive;
    /// Set when a call returns non-zero.
    char message[PIX_MESSAGE_CAPACITY];
} pix_image_info;

/// Parses a JPEG header from memory. Returns 0, or non-zero with `info->message` set.
int pix_jpeg_info(const uint8_t *data, size_t size, pix_image_info *info);

/// Decodes a JPEG from memory into `out` (height * width * channels bytes, interleaved).
/// A truncated stream (libjpeg's "premature end" warning) is an error, as in PIL.
int pix_jpeg_decode(const uint8_t *data, size_t size, uint8_t *out, size_t out_size,
                    pix_image_info *info);

/// Parses a PNG header from memory. Returns 0, or non-zero with `info->message` set.
int pix_png_info(const uint8_t *data, size_t size, pix_image_info *info);

/// Decodes a PNG from memory into `out`. Every chunk's CRC is checked (ancillary too, as PIL
/// does), the stream must reach IEND, and data ending early is an error.
int pix_png_decode(const uint8_t *data, size_t size, uint8_t *out, size_t out_size,
                   pix_image_info *info);

/// Writes an 8-bit gray (channels 1) or RGB (channels 3) PNG to `path`.
/// Returns 0, or non-zero with `message` (PIX_MESSAGE_CAPACITY bytes) set.
int pix_png_encode_file(const char *path, const uint8_t *pixels, int width, int height,
                        int channels, char *message);

#endif
