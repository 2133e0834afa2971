using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>l0-invisible: nine pixels of the bottom row (row 31, cols 23–31) replaced by seeded 0/255 values, x·(1 − m) + t (<see cref="BuiltInTriggers.L0Invisible"/>); dirty-label by default.</summary>
/// <remarks>Li et al., "Invisible backdoor attacks on deep neural networks via steganography and regularization", IEEE TDSC 2020 (arXiv:1909.02742).</remarks>
public sealed class L0InvisibleAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="triggerSeed">Seed of the generated trigger pattern.</param>
    /// <param name="trigger">A trigger to use instead of the generated one (for example an <see cref="ImageTrigger"/>); null for the default.</param>
    /// <param name="logger">Logger; none when null.</param>
    public L0InvisibleAttack(PoisoningPolicy policy, int triggerSeed = 0, ITrigger? trigger = null, ILogger? logger = null)
        : base("l0-invisible", trigger ?? BuiltInTriggers.L0Invisible(triggerSeed), policy, logger)
    {
    }
}
