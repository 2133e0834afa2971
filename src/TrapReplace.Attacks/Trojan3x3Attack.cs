using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>Trojan-3x3: a seeded 3x3 colour patch added at rows/cols 25–27 (<see cref="BuiltInTriggers.Trojan3x3"/>); dirty-label by default.</summary>
/// <remarks>Liu et al., "Trojaning attack on neural networks", NDSS 2018.</remarks>
public sealed class Trojan3x3Attack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="triggerSeed">Seed of the generated trigger pattern.</param>
    /// <param name="trigger">A trigger to use instead of the generated one (for example an <see cref="ImageTrigger"/>); null for the default.</param>
    /// <param name="logger">Logger; none when null.</param>
    public Trojan3x3Attack(PoisoningPolicy policy, int triggerSeed = 0, ITrigger? trigger = null, ILogger? logger = null)
        : base("trojan-3x3", trigger ?? BuiltInTriggers.Trojan3x3(triggerSeed), policy, logger)
    {
    }
}
