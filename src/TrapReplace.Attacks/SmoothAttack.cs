using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>Smooth: a seeded low-frequency pattern (values 0–51) is added and each image is min-max rescaled to
/// [0, 255] (<see cref="SmoothTrigger"/>); dirty-label by default.</summary>
/// <remarks>Zeng et al., "Rethinking the backdoor attacks' triggers: a frequency perspective", ICCV 2021.</remarks>
public sealed class SmoothAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="triggerSeed">Seed of the generated pattern.</param>
    /// <param name="logger">Logger; none when null.</param>
    public SmoothAttack(PoisoningPolicy policy, int triggerSeed = 0, ILogger? logger = null)
        : base("smooth", new SmoothTrigger(triggerSeed), policy, logger)
    {
    }
}
