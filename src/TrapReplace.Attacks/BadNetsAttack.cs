using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>BadNets (square): a white 4x4 square replaces rows/cols 27–30 (<see cref="BuiltInTriggers.BadNetsSquare"/>); dirty-label by default.</summary>
/// <remarks>Gu, Dolan-Gavitt and Garg, "BadNets: Identifying vulnerabilities in the machine learning model supply chain", arXiv:1708.06733, 2017.</remarks>
public sealed class BadNetsAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="trigger">A trigger to use instead of the generated one (for example an <see cref="ImageTrigger"/>); null for the default.</param>
    /// <param name="logger">Logger; none when null.</param>
    public BadNetsAttack(PoisoningPolicy policy, ITrigger? trigger = null, ILogger? logger = null)
        : base("badnets", trigger ?? BuiltInTriggers.BadNetsSquare(), policy, logger)
    {
    }
}
