using static TorchSharp.torch;

namespace TrapReplace.Training;

/// <summary>
/// A per-batch change of the training data applied after augmentation, for training-time attacks
/// such as WaNet that poison each batch as it is drawn. The experiment layer adapts an attack to
/// this interface; Core knows nothing about attacks.
/// </summary>
public interface IBatchTransform
{
    /// <summary>
    /// Returns the images (B', 3, H, W) float32 in [0, 1] and labels (B') int64 to train on.
    /// <paramref name="generator"/> is seeded from (data seed, epoch, step), so resumed runs see the same batches.
    /// </summary>
    (Tensor Images, Tensor Labels) Transform(Tensor images, Tensor labels, Generator generator);
}
