using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>l2-invisible: a seeded low-amplitude full-image perturbation (largest value 68) added to the image (<see cref="BuiltInTriggers.L2Invisible"/>); dirty-label by default.</summary>
/// <remarks>Li et al., "Invisible backdoor attacks on deep neural networks via steganography and regularization", IEEE TDSC 2020 (arXiv:1909.02742).</remarks>
public sealed class L2InvisibleAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="triggerSeed">Seed of the generated trigger pattern.</param>
    /// <param name="trigger">A trigger to use instead of the generated one (for example an <see cref="ImageTrigger"/>); null for the default.</param>
    /// <param name="logger">Logger; none when null.</param>
    public L2InvisibleAttack(PoisoningPolicy policy, int triggerSeed = 0, ITrigger? trigger = null, ILogger? logger = null)
        : base("l2-invisible", trigger ?? BuiltInTriggers.L2Invisible(triggerSeed), policy, logger)
    {
    }
}
