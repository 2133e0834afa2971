using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>Blend: (1 − α)·x + α·t with a seeded random-noise key image t, α = 0.2 (<see cref="BuiltInTriggers.Blend"/>); dirty-label by default.</summary>
/// <remarks>Chen et al., "Targeted backdoor attacks on deep learning systems using data poisoning", arXiv:1712.05526, 2017.</remarks>
public sealed class BlendAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="triggerSeed">Seed of the generated trigger pattern.</param>
    /// <param name="alpha">Blend weight α in [0, 1] of the generated trigger.</param>
    /// <param name="trigger">A trigger to use instead of the generated one (for example an <see cref="ImageTrigger"/>); null for the default.</param>
    /// <param name="logger">Logger; none when null.</param>
    public BlendAttack(PoisoningPolicy policy, int triggerSeed = 0, double alpha = 0.2, ITrigger? trigger = null, ILogger? logger = null)
        : base("blend", trigger ?? BuiltInTriggers.Blend(triggerSeed, alpha), policy, logger)
    {
    }
}
