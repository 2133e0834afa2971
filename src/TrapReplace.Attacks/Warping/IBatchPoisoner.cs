using TorchSharp;

namespace TrapReplace.Attacks.Warping;

/// <summary>
/// An attack that poisons during training, batch by batch (training-controlled attacks such as WaNet). The trainer
/// calls <see cref="PoisonBatch"/> on every training batch before the forward pass.
/// </summary>
public interface IBatchPoisoner
{
    /// <summary>Poisons one training batch.</summary>
    /// <param name="images">The batch (B, 3, H, W), float in [0, 1]; left unchanged.</param>
    /// <param name="labels">Its labels (B), int64; left unchanged.</param>
    /// <param name="generator">A CPU generator that decides which samples are poisoned and draws any noise; the
    /// trainer owns it and seeds it once, so a run is reproducible.</param>
    /// <returns>New images and labels of the same shapes, samples in their original positions. The caller owns them.</returns>
    (torch.Tensor Images, torch.Tensor Labels) PoisonBatch(torch.Tensor images, torch.Tensor labels, torch.Generator generator);
}
