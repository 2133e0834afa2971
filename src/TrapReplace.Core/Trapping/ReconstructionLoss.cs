using static TorchSharp.torch;

namespace TrapReplace.Trapping;

/// <summary>The image-reconstruction terms of the stage-1 loss, as the reference computes them.</summary>
public static class ReconstructionLoss
{
    /// <summary>Mean squared error over all elements between the reconstruction and the input, both (N, 3, H, W) in [0, 1].</summary>
    public static Tensor MeanSquaredError(Tensor reconstruction, Tensor input) =>
        nn.functional.mse_loss(reconstruction, input);

    /// <summary>
    /// Total variation: (sum of squared vertical neighbour differences + sum of squared horizontal
    /// neighbour differences) / (N * C * H * W), of a batch (N, C, H, W).
    /// </summary>
    public static Tensor TotalVariation(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        using var scope = NewDisposeScope();
        long h = images.shape[2], w = images.shape[3];
        var vertical = images.narrow(2, 1, h - 1).sub(images.narrow(2, 0, h - 1)).square().sum();
        var horizontal = images.narrow(3, 1, w - 1).sub(images.narrow(3, 0, w - 1)).square().sum();
        return vertical.add(horizontal).div(images.numel()).MoveToOuterDisposeScope();
    }
}
