using TorchSharp;

namespace TrapReplace.Attacks.Triggers;

/// <summary>
/// A backdoor trigger: stamps a batch of images. It knows nothing about which samples are poisoned
/// or how they are labelled; that is the <see cref="Poisoning.PoisoningPolicy"/>'s job.
/// </summary>
public interface ITrigger
{
    /// <summary>Gets the kebab-case name of the trigger (the attack it belongs to, for built-in triggers).</summary>
    string Name { get; }

    /// <summary>Applies the trigger to every image of a batch.</summary>
    /// <param name="images">Images (N, 3, H, W), floating point in [0, 1]; left unchanged.</param>
    /// <returns>A new tensor (N, 3, H, W) of the same dtype and device, in [0, 1]. The caller owns it.</returns>
    /// <exception cref="ArgumentException">The batch has the wrong shape or values outside [0, 1], or is
    /// smaller than the trigger's reference canvas.</exception>
    torch.Tensor Apply(torch.Tensor images);
}
