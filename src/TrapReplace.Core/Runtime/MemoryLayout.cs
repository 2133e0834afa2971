using static TorchSharp.torch;

namespace TrapReplace.Runtime;

/// <summary>
/// Channels-last ("NHWC") layout for image batches. TorchSharp 0.107 has no memory-format argument, so the layout is
/// made the way PyTorch defines it: the same logical (N, C, H, W) tensor with strides (H*W*C, 1, W*C, C).
/// </summary>
/// <remarks>
/// libtorch's CPU convolutions (oneDNN) run faster on channels-last input, and convolution, BatchNorm and element-wise
/// outputs keep the layout, so converting the input batch makes the whole forward and backward pass channels-last.
/// Weights keep their standard layout (saved models and checkpoints are unchanged). Results equal the standard
/// layout's up to floating-point summation order; the measured speed-up is in docs/performance.md.
/// </remarks>
public static class MemoryLayout
{
    /// <summary>
    /// <paramref name="images"/> (N, C, H, W) laid out channels-last; returned as it is when it already is, or when it
    /// is not 4-D. A new tensor (in the caller's dispose scope) otherwise.
    /// </summary>
    public static Tensor ToChannelsLast(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4 || IsChannelsLast(images)) return images;
        return images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
    }

    /// <summary>True when the 4-D <paramref name="images"/> has channels-last strides (dense, channel fastest).</summary>
    public static bool IsChannelsLast(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4) return false;
        var shape = images.shape;
        var stride = images.stride();
        long c = shape[1], h = shape[2], w = shape[3];
        return stride[1] == 1 && stride[3] == c && stride[2] == w * c && stride[0] == h * w * c;
    }
}
