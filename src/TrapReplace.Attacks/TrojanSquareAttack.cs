using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>Trojan-SQ: a seeded 9x9 colour square added at rows/cols 21–29 (<see cref="BuiltInTriggers.TrojanSquare"/>); dirty-label by default.</summary>
/// <remarks>Liu et al., "Trojaning attack on neural networks", NDSS 2018.</remarks>
public sealed class TrojanSquareAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="triggerSeed">Seed of the generated trigger pattern.</param>
    /// <param name="trigger">A trigger to use instead of the generated one (for example an <see cref="ImageTrigger"/>); null for the default.</param>
    /// <param name="logger">Logger; none when null.</param>
    public TrojanSquareAttack(PoisoningPolicy policy, int triggerSeed = 0, ITrigger? trigger = null, ILogger? logger = null)
        : base("trojan-sq", trigger ?? BuiltInTriggers.TrojanSquare(triggerSeed), policy, logger)
    {
    }
}
