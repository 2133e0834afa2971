using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Peers;

/// <summary>
/// Attention maps and the attention-distillation loss of NAD (after Zagoruyko and Komodakis,
/// "Paying More Attention to Attention", ICLR 2017), as the NAD and BackdoorBench code compute them.
/// </summary>
public static class AttentionDistillation
{
    /// <summary>Added to the norm before dividing, as the reference code.</summary>
    public const double Epsilon = 1e-6;

    /// <summary>
    /// The attention map of feature maps (N, C, H, W): sum over channels of |a|^p, flattened to (N, H*W)
    /// and divided by its L2 norm (+ <see cref="Epsilon"/>). A sum or a mean over channels give the same map
    /// up to the epsilon. Returns a new tensor in the caller's dispose scope.
    /// </summary>
    public static Tensor AttentionMap(Tensor features, double power = 2)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.dim() != 4) throw new ArgumentException($"feature maps must be (N, C, H, W); got {features.dim()} dimensions", nameof(features));
        var map = features.abs().pow(power).sum([1]).flatten(1);
        var norm = map.norm(1, keepdim: true);
        return map.div(norm.add(Epsilon));
    }

    /// <summary>The attention loss: mean squared difference of the two attention maps (PyTorch's
    /// <c>mse_loss</c> over all N x H x W entries). Gradients flow into <paramref name="student"/>;
    /// <paramref name="teacher"/> is detached.</summary>
    public static Tensor Loss(Tensor student, Tensor teacher, double power = 2)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        return nn.functional.mse_loss(AttentionMap(student, power), AttentionMap(teacher.detach(), power));
    }
}
