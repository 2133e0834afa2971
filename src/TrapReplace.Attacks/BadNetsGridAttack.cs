using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>BadNets (grid): the 3x3 patch [[0, 0, 255], [0, 255, 0], [255, 0, 255]] replaces rows/cols 29–31 (<see cref="BuiltInTriggers.BadNetsGrid"/>); dirty-label by default.</summary>
/// <remarks>Gu, Dolan-Gavitt and Garg, "BadNets: Identifying vulnerabilities in the machine learning model supply chain", arXiv:1708.06733, 2017.</remarks>
public sealed class BadNetsGridAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy.</param>
    /// <param name="trigger">A trigger to use instead of the generated one (for example an <see cref="ImageTrigger"/>); null for the default.</param>
    /// <param name="logger">Logger; none when null.</param>
    public BadNetsGridAttack(PoisoningPolicy policy, ITrigger? trigger = null, ILogger? logger = null)
        : base("badnets-grid", trigger ?? BuiltInTriggers.BadNetsGrid(), policy, logger)
    {
    }
}
