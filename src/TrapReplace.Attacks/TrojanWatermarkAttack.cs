using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>Trojan-WM: a seeded full-image stroke watermark added to the image (<see cref="BuiltInTriggers.TrojanWatermark"/>); dirty-label by default.</summary>
/// <remarks>Liu et al., "Trojaning attack on neural networks", NDSS 2018.</remarks>
public sealed class TrojanWatermarkAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="triggerSeed">Seed of the generated trigger pattern.</param>
    /// <param name="trigger">A trigger to use instead of the generated one (for example an <see cref="ImageTrigger"/>); null for the default.</param>
    /// <param name="logger">Logger; none when null.</param>
    public TrojanWatermarkAttack(PoisoningPolicy policy, int triggerSeed = 0, ITrigger? trigger = null, ILogger? logger = null)
        : base("trojan-wm", trigger ?? BuiltInTriggers.TrojanWatermark(triggerSeed), policy, logger)
    {
    }
}
