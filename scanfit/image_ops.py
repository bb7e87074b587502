"""`keras.ops.image`: image operations with Keras 3's names, arguments and results, on 'channels_last' images
(one image (height, width, channels) or a batch of them): `resize`, `rgb_to_grayscale`, `rgb_to_hsv`,
`hsv_to_rgb`, `pad_images`, `crop_images`, `affine_transform`, `extract_patches`, `gaussian_blur`,
`sobel_edges`, `map_coordinates`, `ssim` and `scale_and_translate`; and `extract_patches_3d` of volumes. Other
names are an AttributeError, never a guess."""
import jax
import jax.numpy as jnp

from scanfit.layers.augmentation import FILL_MODES
from scanfit.layers.augmentation import affine_transform as _affine_batch
from scanfit.layers.resizing import check_resize_options
from scanfit.layers.resizing import resize as _resize_batch


def _checked(images, data_format, name):
    """`images` as an array of rank 3 or 4 in the 'channels_last' layout; a clear error otherwise."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"ops.image.{name}: scanfit's images are 'channels_last', got data_format={data_format!r}.")
    images = jnp.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"ops.image.{name} takes one image (height, width, channels) or a batch of them; got shape "
                         f"{images.shape}.")
    return images


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """`images` resized to `size` (height, width), first cropped (centred) or padded with `fill_value` to its aspect
    ratio when asked, as Keras resizes them."""
    images = _checked(images, data_format, "resize")
    check_resize_options(interpolation, fill_mode, crop_to_aspect_ratio, pad_to_aspect_ratio, "ops.image.resize:")
    if len(size) != 2:
        raise ValueError(f"ops.image.resize: size must be (height, width), got {size!r}.")
    single = images.ndim == 3
    resized = _resize_batch(images[None] if single else images, int(size[0]), int(size[1]), interpolation,
                            crop_to_aspect_ratio, pad_to_aspect_ratio, fill_value, antialias)
    return resized[0] if single else resized


def rgb_to_grayscale(images, data_format=None):
    """RGB images as one-channel grey ones (TensorFlow's weights 0.2989, 0.5870, 0.1140); grey ones as they are."""
    images = _checked(images, data_format, "rgb_to_grayscale")
    if images.shape[-1] not in (1, 3):
        raise ValueError(f"ops.image.rgb_to_grayscale takes 3 (RGB) or 1 channels, got shape {images.shape}.")
    if images.shape[-1] == 1:
        return images
    floats = images.astype(jnp.result_type(images.dtype, float))
    grey = jnp.tensordot(floats, jnp.asarray([0.2989, 0.5870, 0.1140], floats.dtype), axes=(-1, -1))
    return grey[..., None].astype(images.dtype)


def _batched(function, images):
    """`function` of a batch applied to `images`, one image or a batch."""
    return function(images[None])[0] if images.ndim == 3 else function(images)


def rgb_to_hsv(images, data_format=None):
    """RGB images (floats in [0, 1]) as hue, saturation and value, each in [0, 1]."""
    images = _checked(images, data_format, "rgb_to_hsv")
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise ValueError(f"ops.image.rgb_to_hsv takes float images, got dtype {images.dtype}.")
    red, green, blue = images[..., 0], images[..., 1], images[..., 2]
    value = jnp.max(images, axis=-1)
    spread = value - jnp.min(images, axis=-1)
    safe = jnp.where(spread > 0, spread, 1)
    saturation = jnp.where(value > 0, spread / jnp.where(value > 0, value, 1), 0)
    hue = jnp.where(value == red, (green - blue) / safe,
                    jnp.where(value == green, (blue - red) / safe + 2, (red - green) / safe + 4))
    hue = jnp.where(spread > 0, jnp.mod(hue / 6, 1.0), 0)
    return jnp.stack([hue, saturation, value], axis=-1).astype(images.dtype)


def hsv_to_rgb(images, data_format=None):
    """Hue, saturation and value images (each in [0, 1]) as RGB."""
    images = _checked(images, data_format, "hsv_to_rgb")
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise ValueError(f"ops.image.hsv_to_rgb takes float images, got dtype {images.dtype}.")
    hue, saturation, value = images[..., 0], images[..., 1], images[..., 2]
    sector = jnp.mod(hue, 1.0) * 6  # the hue's position among the six sectors of the colour wheel
    channels = [jnp.clip(jnp.abs(jnp.mod(sector + shift, 6) - 3) - 1, 0, 1) for shift in (0.0, 4.0, 2.0)]
    return jnp.stack([value * (1 - saturation + saturation * c) for c in channels], axis=-1).astype(images.dtype)


def _margins(before, after, target, size, what):
    """``(before, after)`` from two of before, after and the target size."""
    if sum(v is not None for v in (before, after, target)) != 2:
        raise ValueError(f"ops.image.{what}: give two of the {what.split('_')[0]} before, after and the target size "
                         f"on each axis, got {before!r}, {after!r} and target {target!r}.")
    before = target - after - size if before is None else before
    after = target - before - size if after is None else after
    if before < 0 or after < 0:
        raise ValueError(f"ops.image.{what}: the amounts must be >= 0, got {before} and {after} for an axis of size "
                         f"{size} and target {target}.")
    return int(before), int(after)


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    """`images` padded with zeros; on each axis give two of the padding before, after and the target size."""
    images = _checked(images, data_format, "pad_images")
    height, width = images.shape[-3:-1]
    top, bottom = _margins(top_padding, bottom_padding, target_height, height, "pad_images")
    left, right = _margins(left_padding, right_padding, target_width, width, "pad_images")
    widths = [(top, bottom), (left, right), (0, 0)]
    return jnp.pad(images, ([(0, 0)] if images.ndim == 4 else []) + widths)


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    """`images` cropped; on each axis give two of the cropping before, after and the target size."""
    images = _checked(images, data_format, "crop_images")
    height, width = images.shape[-3:-1]
    top, bottom = _margins(top_cropping, bottom_cropping, None if target_height is None else -target_height, -height,
                           "crop_images")
    left, right = _margins(left_cropping, right_cropping, None if target_width is None else -target_width, -width,
                           "crop_images")
    return images[..., top:height - bottom, left:width - right, :]


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """`images` mapped by `transform`, ``(a0, a1, a2, b0, b1, b2, c0, c1)`` (one, or one per image): the output
    pixel at column x, row y takes the input at column ``a0 x + a1 y + a2``, row ``b0 x + b1 y + b2`` (the
    projective terms c0, c1 must be 0); points outside follow `fill_mode`."""
    images = _checked(images, data_format, "affine_transform")
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"ops.image.affine_transform interpolation must be 'nearest' or 'bilinear', "
                         f"got {interpolation!r}.")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"ops.image.affine_transform fill_mode must be one of {FILL_MODES}, got {fill_mode!r}.")
    transform = jnp.asarray(transform, jnp.float32)
    single = images.ndim == 3
    batch = images[None] if single else images
    transform = jnp.broadcast_to(transform.reshape(-1, 8), (batch.shape[0], 8))
    out = _affine_batch(batch, transform, interpolation, fill_mode, float(fill_value))
    return out[0] if single else out


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """The `size` patches of `images`, each flattened into the channel axis: (..., rows, columns, h * w * c)."""
    images = _checked(images, data_format, "extract_patches")
    size = (size, size) if isinstance(size, int) else tuple(size)
    strides = size if strides is None else (strides, strides) if isinstance(strides, int) else tuple(strides)
    dilation = (dilation_rate, dilation_rate) if isinstance(dilation_rate, int) else tuple(dilation_rate)
    if padding.lower() not in ("valid", "same"):
        raise ValueError(f"ops.image.extract_patches padding must be 'valid' or 'same', got {padding!r}.")

    def patches(batch):
        out = jax.lax.conv_general_dilated_patches(batch, size, strides, padding.upper(), rhs_dilation=dilation,
                                                   dimension_numbers=("NHWC", "OIHW", "NHWC"))
        channels = batch.shape[-1]  # (c, h, w) order of the patch's values, to (h, w, c) as Keras gives them
        out = out.reshape(out.shape[:3] + (channels, size[0] * size[1]))
        return jnp.swapaxes(out, -1, -2).reshape(out.shape[:3] + (-1,))

    return _batched(patches, images)


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """`images` blurred by a Gaussian of `sigma` (rows, columns) over a `kernel_size` window, channel by channel,
    the borders padded with zeros."""
    images = _checked(images, data_format, "gaussian_blur")
    kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    sigma = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)

    def weights(length, spread):
        offsets = jnp.arange(length, dtype=jnp.float32) - (length - 1) / 2
        values = jnp.exp(-0.5 * jnp.square(offsets / spread))
        return values / jnp.sum(values)

    kernel = weights(kernel_size[0], sigma[0])[:, None] * weights(kernel_size[1], sigma[1])[None, :]

    def blur(batch):
        channels = batch.shape[-1]
        filters = jnp.tile(kernel[:, :, None, None], (1, 1, 1, channels)).astype(batch.dtype)
        return jax.lax.conv_general_dilated(batch, filters, (1, 1), "SAME", feature_group_count=channels,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    return _batched(blur, images)


def sobel_edges(images, data_format=None):
    """The Sobel gradients of each channel: (..., channels, 2), vertical (dy) then horizontal (dx), the borders
    padded with zeros (as Keras 3 on JAX computes them)."""
    images = _checked(images, data_format, "sobel_edges")
    dy = jnp.asarray([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], jnp.float32)

    def edges(batch):
        channels = batch.shape[-1]
        out = []
        for kernel in (dy, dy.T):
            filters = jnp.tile(kernel[:, :, None, None], (1, 1, 1, channels)).astype(batch.dtype)
            out.append(jax.lax.conv_general_dilated(batch, filters, (1, 1), "SAME", feature_group_count=channels,
                                                    dimension_numbers=("NHWC", "HWIO", "NHWC")))
        return jnp.stack(out, axis=-1)

    return _batched(edges, images)


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """`inputs` sampled at `coordinates` (one array per axis) with spline `order` 0 or 1 (SciPy's)."""
    if order not in (0, 1):
        raise ValueError(f"ops.image.map_coordinates order must be 0 or 1, got {order!r}.")
    if fill_mode not in FILL_MODES + ("mirror",):
        raise ValueError(f"ops.image.map_coordinates fill_mode must be one of {FILL_MODES + ('mirror',)}, "
                         f"got {fill_mode!r}.")
    return jax.scipy.ndimage.map_coordinates(jnp.asarray(inputs), [jnp.asarray(c) for c in coordinates], order=order,
                                             mode=fill_mode, cval=fill_value)


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """The `size` (depth, height, width) patches of 'channels_last' volumes (one (depth, height, width, channels)
    or a batch of them), each flattened into the last axis: (..., patches along each axis, d * h * w * c)."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"ops.image.extract_patches_3d: scanfit's volumes are 'channels_last', got "
                         f"data_format={data_format!r}.")
    volumes = jnp.asarray(volumes)
    if volumes.ndim not in (4, 5):
        raise ValueError(f"ops.image.extract_patches_3d takes one volume (depth, height, width, channels) or a batch "
                         f"of them; got shape {volumes.shape}.")
    triple = lambda value: (value,) * 3 if isinstance(value, int) else tuple(value)
    size = triple(size)
    strides = size if strides is None else triple(strides)
    if padding.lower() not in ("valid", "same"):
        raise ValueError(f"ops.image.extract_patches_3d padding must be 'valid' or 'same', got {padding!r}.")

    def patches(batch):
        out = jax.lax.conv_general_dilated_patches(batch, size, strides, padding.upper(),
                                                   rhs_dilation=triple(dilation_rate),
                                                   dimension_numbers=("NDHWC", "OIDHW", "NDHWC"),
                                                   precision=jax.lax.Precision.HIGHEST)
        channels = batch.shape[-1]  # (c, d, h, w) order of the patch's values, to (d, h, w, c) as Keras gives them
        out = out.reshape(out.shape[:4] + (channels, size[0] * size[1] * size[2]))
        return jnp.swapaxes(out, -1, -2).reshape(out.shape[:4] + (-1,))

    return patches(volumes[None])[0] if volumes.ndim == 4 else patches(volumes)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method, antialias=True):
    """`images` resampled to `output_shape`: along each axis of `spatial_dims`, input coordinate x goes to
    ``x * scale + translation`` (JAX's ``jax.image.scale_and_translate``, as Keras uses it)."""
    methods = ("linear", "bilinear", "trilinear", "cubic", "bicubic", "tricubic", "lanczos3", "lanczos5")
    if method not in methods:
        raise ValueError(f"ops.image.scale_and_translate method must be one of {methods}, got {method!r}.")
    return jax.image.scale_and_translate(jnp.asarray(images), output_shape, spatial_dims, jnp.asarray(scale),
                                         jnp.asarray(translation), method, antialias)


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, data_format=None):
    """The structural similarity of two float images (or batches of them, one value per image): local means,
    variances and covariance under a `filter_size` Gaussian window of `filter_sigma` (no padding), the SSIM map
    averaged over positions and channels."""
    image1, image2 = _checked(image1, data_format, "ssim"), _checked(image2, data_format, "ssim")
    if image1.shape != image2.shape or not jnp.issubdtype(image1.dtype, jnp.floating):
        raise ValueError(f"ops.image.ssim takes two float images of one shape, got {image1.shape} {image1.dtype} "
                         f"and {image2.shape} {image2.dtype}.")
    dtype = image1.dtype
    image2 = image2.astype(dtype)
    offsets = jnp.arange(filter_size, dtype=dtype) - (filter_size - 1) / 2.0
    weights = jnp.exp(-jnp.square(offsets) / (2.0 * filter_sigma**2))
    weights = weights / jnp.sum(weights)
    kernel = jnp.outer(weights, weights)[:, :, None, None]

    def local_mean(batch):  # each channel on its own, over the window's valid positions
        channels = batch.shape[-1]
        return jax.lax.conv_general_dilated(batch, jnp.tile(kernel, (1, 1, 1, channels)), (1, 1), "VALID",
                                            feature_group_count=channels, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                            precision=jax.lax.Precision.HIGHEST)

    def similarity(first, second):
        mean1, mean2 = local_mean(first), local_mean(second)
        variance1 = local_mean(first * first) - mean1 * mean1
        variance2 = local_mean(second * second) - mean2 * mean2
        covariance = local_mean(first * second) - mean1 * mean2
        c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
        values = ((2.0 * mean1 * mean2 + c1) * (2.0 * covariance + c2)
                  / ((mean1 * mean1 + mean2 * mean2 + c1) * (variance1 + variance2 + c2)))
        return jnp.mean(values, axis=(1, 2, 3))

    return similarity(image1[None], image2[None])[0] if image1.ndim == 3 else similarity(image1, image2)


def _sample(images, rows, columns, order, fill_mode, fill_value):
    """Each image of a batch (and each channel) sampled at its own (height, width) grids of `rows` and `columns`
    (spline `order` 0 or 1, SciPy's `fill_mode` outside)."""
    def one(image, rows, columns):
        return jax.vmap(lambda channel: jax.scipy.ndimage.map_coordinates(
            channel, [rows, columns], order=order, mode=fill_mode, cval=fill_value), in_axes=-1, out_axes=-1)(image)

    return jax.vmap(one)(images, rows, columns)


def _order(interpolation, name):
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"ops.image.{name} interpolation must be 'nearest' or 'bilinear', got {interpolation!r}.")
    return 0 if interpolation == "nearest" else 1


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0,
                          data_format=None):
    """`images` warped so that the four `start_points` (x, y) go to the `end_points` ((4, 2), or (batch, 4, 2)):
    each output pixel takes the input at its image under the homography from the end points to the start
    points; points outside the image are `fill_value`."""
    images = _checked(images, data_format, "perspective_transform")
    order = _order(interpolation, "perspective_transform")
    start_points, end_points = jnp.asarray(start_points, jnp.float32), jnp.asarray(end_points, jnp.float32)
    if start_points.shape != end_points.shape or start_points.shape[-2:] != (4, 2) or start_points.ndim not in (2, 3):
        raise ValueError(f"ops.image.perspective_transform takes start_points and end_points of one shape, (4, 2) or "
                         f"(batch, 4, 2); got {start_points.shape} and {end_points.shape}.")
    batch = images[None] if images.ndim == 3 else images
    height, width = batch.shape[1:3]
    start_points = jnp.broadcast_to(start_points.reshape(-1, 4, 2), (batch.shape[0], 4, 2))
    end_points = jnp.broadcast_to(end_points.reshape(-1, 4, 2), (batch.shape[0], 4, 2))

    def homography(start, end):  # h: (x, y) -> (h0 x + h1 y + h2, h3 x + h4 y + h5) / (h6 x + h7 y + 1)
        x, y, u, v = end[:, 0], end[:, 1], start[:, 0], start[:, 1]
        zero, one = jnp.zeros(4), jnp.ones(4)
        system = jnp.concatenate([jnp.stack([x, y, one, zero, zero, zero, -u * x, -u * y], axis=1),
                                  jnp.stack([zero, zero, zero, x, y, one, -v * x, -v * y], axis=1)])
        return jnp.linalg.solve(system, jnp.concatenate([u, v]))

    h = jax.vmap(homography)(start_points, end_points)[:, :, None, None]
    columns, rows = jnp.meshgrid(jnp.arange(width, dtype=jnp.float32), jnp.arange(height, dtype=jnp.float32))
    scale = h[:, 6] * columns + h[:, 7] * rows + 1.0
    source_columns = (h[:, 0] * columns + h[:, 1] * rows + h[:, 2]) / scale
    source_rows = (h[:, 3] * columns + h[:, 4] * rows + h[:, 5]) / scale
    out = _sample(batch, source_rows, source_columns, order, "constant", fill_value)
    return out[0] if images.ndim == 3 else out


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                      seed=None, data_format=None):
    """`images` distorted by a random smooth displacement field: per image, two fields (rows, columns) of
    normal noise times `sigma`, blurred by a Gaussian of `sigma` (window ``int(6 sigma) | 1``), times `alpha`;
    each pixel samples the input that far away (`fill_mode` outside). `seed`: as in `keras.random`."""
    from scanfit import random

    images = _checked(images, data_format, "elastic_transform")
    order = _order(interpolation, "elastic_transform")
    if fill_mode not in FILL_MODES + ("mirror",):
        raise ValueError(f"ops.image.elastic_transform fill_mode must be one of {FILL_MODES + ('mirror',)}, "
                         f"got {fill_mode!r}.")
    batch = images[None] if images.ndim == 3 else images
    count, height, width = batch.shape[:3]
    dtype = jnp.result_type(batch.dtype, jnp.float32)
    noise = random.normal((2 * count, height, width, 1), stddev=sigma, dtype=dtype, seed=seed)
    window = int(6 * sigma) | 1
    shifts = alpha * gaussian_blur(noise, (window, window), (sigma, sigma))[..., 0]
    columns, rows = jnp.meshgrid(jnp.arange(width, dtype=dtype), jnp.arange(height, dtype=dtype))
    out = _sample(batch.astype(dtype), rows + shifts[:count], columns + shifts[count:], order, fill_mode, fill_value)
    out = out.astype(batch.dtype)
    return out[0] if images.ndim == 3 else out
