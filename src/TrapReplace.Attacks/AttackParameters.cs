using Microsoft.Extensions.Logging;
using TorchSharp;
using TrapReplace.Attacks.Adversarial;
using TrapReplace.Attacks.Triggers;
using TrapReplace.Attacks.Warping;

namespace TrapReplace.Attacks;

/// <summary>Attack-specific settings for <see cref="AttackCatalog.Create"/>; each attack reads only the ones it uses.</summary>
public sealed record AttackParameters
{
    /// <summary>Gets the seed of generated trigger patterns (trojan-*, l0/l2-invisible, blend, smooth) and of the WaNet
    /// flow field; separate from the sample-choice seed of the policy. <value>Default 0.</value></summary>
    public int TriggerSeed { get; init; }

    /// <summary>Gets a trigger that replaces the generated one, for the patch and blend attacks (badnets, badnets-grid,
    /// trojan-3x3, trojan-sq, trojan-wm, l0-invisible, l2-invisible, blend), typically an <see cref="ImageTrigger"/>
    /// made from the user's PNG. Other attacks reject it. <value>Default null.</value></summary>
    public ITrigger? CustomTrigger { get; init; }

    /// <summary>Gets the blend weight α of blend and of SIG in blend mode, in [0, 1]. <value>Default 0.2.</value></summary>
    public double BlendAlpha { get; init; } = 0.2;

    /// <summary>Gets how SIG combines its sinusoid with the image. <value>Default <see cref="SigMode.Reference"/>.</value>
    /// The <c>sig-smooth</c> attack always uses <see cref="SigMode.Blend"/>.</summary>
    public SigMode SigMode { get; init; } = SigMode.Reference;

    /// <summary>Gets the SIG amplitude Δ (0–255 scale) in additive mode. <value>Default 40.</value></summary>
    public double SigDelta { get; init; } = 40.0;

    /// <summary>Gets the SIG frequency f (periods across the width). <value>Default 6.</value></summary>
    public double SigFrequency { get; init; } = 6.0;

    /// <summary>Gets the surrogate model's logits function, required by label-consistent: maps (n, 3, H, W) images in
    /// [0, 1] to (n, classes) logits, differentiably, on the images' device. <value>Default null.</value></summary>
    public Func<torch.Tensor, torch.Tensor>? SurrogateModel { get; init; }

    /// <summary>Gets the PGD settings of label-consistent. <value>Default <see cref="PgdOptions"/> defaults.</value></summary>
    public PgdOptions Pgd { get; init; } = new();

    /// <summary>Gets the WaNet settings. <value>Default <see cref="WaNetOptions"/> defaults.</value></summary>
    public WaNetOptions WaNet { get; init; } = new();

    /// <summary>Gets the logger given to the attack. <value>Default null (no logging).</value></summary>
    public ILogger? Logger { get; init; }
}
