// See include/image_shim.h. Every libjpeg/libpng call that may longjmp runs below a setjmp
// in the same function; locals written after setjmp and read after a longjmp are volatile.
#include "image_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

static void pix_set_message(char *dst, const char *src) {
    snprintf(dst, PIX_MESSAGE_CAPACITY, "%s", src);
}

// MARK: - JPEG

typedef struct {
    struct jpeg_error_mgr base;   // must be first: libjpeg passes &base as cinfo->err
    jmp_buf jump;
    char *message;
} pix_jpeg_error;

static void pix_jpeg_error_exit(j_common_ptr cinfo) {
    pix_jpeg_error *err = (pix_jpeg_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    err->base.format_message(cinfo, buffer);
    pix_set_message(err->message, buffer);
    longjmp(err->jump, 1);
}

// Warnings are ignored (PIL ignores them too), except "premature end of data": libjpeg would
// pad the image with gray, PIL raises "image file is truncated", and so do we.
static void pix_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        pix_jpeg_error *err = (pix_jpeg_error *)cinfo->err;
        pix_set_message(err->message, "truncated JPEG (premature end of data)");
        longjmp(err->jump, 1);
    }
}

// Output colour space as PIL picks its mode: 1 component → L, CMYK/YCCK → CMYK, else RGB.
static int pix_jpeg_choose_output(struct jpeg_decompress_struct *cinfo, pix_image_info *info) {
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo->out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo->out_color_space = JCS_CMYK; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo->out_color_space = JCS_RGB; break;
    default:
        snprintf(info->message, PIX_MESSAGE_CAPACITY,
                 "unsupported JPEG colour space with %d components", cinfo->num_components);
        return 1;
    }
    jpeg_calc_output_dimensions(cinfo);
    info->width = (int)cinfo->output_width;
    info->height = (int)cinfo->output_height;
    info->channels = cinfo->output_components;
    info->bytes_per_sample = 1;
    info->progressive = jpeg_has_multiple_scans(cinfo) ? 1 : 0;
    return 0;
}

static int pix_jpeg_run(const uint8_t *data, size_t size, uint8_t *out, size_t out_size,
                        pix_image_info *info) {
    struct jpeg_decompress_struct cinfo;
    pix_jpeg_error err;
    volatile int created = 0;
    volatile int status = 1;
    info->message[0] = 0;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = pix_jpeg_error_exit;
    err.base.emit_message = pix_jpeg_emit_message;
    err.message = info->message;
    if (setjmp(err.jump)) {
        if (created) jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    created = 1;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (pix_jpeg_choose_output(&cinfo, info) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    if (out != NULL) {
        size_t stride = (size_t)info->width * (size_t)info->channels;
        if (out_size < stride * (size_t)info->height) {
            pix_set_message(info->message, "output buffer too small");
            jpeg_destroy_decompress(&cinfo);
            return 1;
        }
        jpeg_start_decompress(&cinfo);
        while (cinfo.output_scanline < cinfo.output_height) {
            JSAMPROW row = out + stride * cinfo.output_scanline;
            jpeg_read_scanlines(&cinfo, &row, 1);
        }
        jpeg_finish_decompress(&cinfo);
    }
    status = 0;
    jpeg_destroy_decompress(&cinfo);
    return status;
}

int pix_jpeg_info(const uint8_t *data, size_t size, pix_image_info *info) {
    return pix_jpeg_run(data, size, NULL, 0, info);
}

int pix_jpeg_decode(const uint8_t *data, size_t size, uint8_t *out, size_t out_size,
                    pix_image_info *info) {
    if (out == NULL) {
        pix_set_message(info->message, "no output buffer");
        return 1;
    }
    return pix_jpeg_run(data, size, out, out_size, info);
}

// MARK: - PNG

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    char *message;
} pix_png_source;

static void pix_png_read(png_structp png, png_bytep dst, size_t length) {
    pix_png_source *src = (pix_png_source *)png_get_io_ptr(png);
    if (src->size - src->offset < length) {
        png_error(png, "truncated PNG (premature end of data)");
    }
    memcpy(dst, src->data + src->offset, length);
    src->offset += length;
}

static void pix_png_error(png_structp png, png_const_charp text) {
    char *message = (char *)png_get_error_ptr(png);
    if (message != NULL) pix_set_message(message, text);
    png_longjmp(png, 1);
}

static void pix_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static int pix_png_run(const uint8_t *data, size_t size, uint8_t *out, size_t out_size,
                       pix_image_info *info) {
    png_structp png;
    png_infop pinfo = NULL;
    png_bytep *volatile rows = NULL;
    pix_png_source src = {data, size, 0, info->message};
    info->message[0] = 0;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        pix_set_message(info->message, "not a PNG signature");
        return 1;
    }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, info->message, pix_png_error,
                                 pix_png_warning);
    if (png == NULL) {
        pix_set_message(info->message, "out of memory");
        return 1;
    }
    pinfo = png_create_info_struct(png);
    if (pinfo == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        pix_set_message(info->message, "out of memory");
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_read_struct(&png, &pinfo, NULL);
        return 1;
    }
    png_set_read_fn(png, &src, pix_png_read);
    // Bad CRCs are errors in every chunk (libpng's default only warns for ancillary ones).
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    // Our own pixel limit is applied by the caller; lift libpng's 1e6-per-side default.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, pinfo);

    int color = png_get_color_type(png, pinfo);
    int depth = png_get_bit_depth(png, pinfo);
    // PIL semantics: 16-bit gray keeps its 16-bit values (mode I;16, clipped later); every
    // other 16-bit type keeps the high byte (rawmodes "RGB;16B", "LA;16B", ...).
    if (depth == 16 && color != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    // 1/2/4-bit gray scale to 0...255 (×255, ×85, ×17), as PIL's "1", "L;2", "L;4".
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    info->progressive = png_set_interlace_handling(png) > 1 ? 1 : 0;
    png_read_update_info(png, pinfo);

    info->width = (int)png_get_image_width(png, pinfo);
    info->height = (int)png_get_image_height(png, pinfo);
    info->channels = png_get_channels(png, pinfo);
    info->bytes_per_sample = png_get_bit_depth(png, pinfo) == 16 ? 2 : 1;

    if (out != NULL) {
        size_t stride = png_get_rowbytes(png, pinfo);
        size_t expected = (size_t)info->width * (size_t)info->channels *
                          (size_t)info->bytes_per_sample;
        if (stride != expected || out_size < stride * (size_t)info->height) {
            png_error(png, "output buffer too small");
        }
        rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)info->height);
        if (rows == NULL) png_error(png, "out of memory");
        for (int y = 0; y < info->height; y++) rows[y] = out + stride * (size_t)y;
        png_read_image(png, rows);
        png_read_end(png, NULL);
    }
    free(rows);
    png_destroy_read_struct(&png, &pinfo, NULL);
    return 0;
}

int pix_png_info(const uint8_t *data, size_t size, pix_image_info *info) {
    return pix_png_run(data, size, NULL, 0, info);
}

int pix_png_decode(const uint8_t *data, size_t size, uint8_t *out, size_t out_size,
                   pix_image_info *info) {
    if (out == NULL) {
        pix_set_message(info->message, "no output buffer");
        return 1;
    }
    return pix_png_run(data, size, out, out_size, info);
}

int pix_png_encode_file(const char *path, const uint8_t *pixels, int width, int height,
                        int channels, char *message) {
    FILE *volatile file = NULL;
    png_structp png;
    png_infop pinfo;
    message[0] = 0;
    if (channels != 1 && channels != 3) {
        pix_set_message(message, "PNG encoder takes 1 or 3 channels");
        return 1;
    }
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, pix_png_error,
                                  pix_png_warning);
    if (png == NULL) {
        pix_set_message(message, "out of memory");
        return 1;
    }
    pinfo = png_create_info_struct(png);
    if (pinfo == NULL) {
        png_destroy_write_struct(&png, NULL);
        pix_set_message(message, "out of memory");
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (file != NULL) fclose(file);
        png_destroy_write_struct(&png, &pinfo);
        return 1;
    }
    file = fopen(path, "wb");
    if (file == NULL) png_error(png, "cannot open file for writing");
    png_init_io(png, file);
    png_set_IHDR(png, pinfo, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, pinfo);
    size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) {
        png_write_row(png, pixels + stride * (size_t)y);
    }
    png_write_end(png, pinfo);
    png_destroy_write_struct(&png, &pinfo);
    FILE *done = file;
    file = NULL;
    if (fclose(done) != 0) {
        pix_set_message(message, "write failed on close");
        return 1;
    }
    return 0;
}
