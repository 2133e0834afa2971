using Microsoft.Extensions.Logging;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;

namespace TrapReplace.Attacks;

/// <summary>SIG: a horizontal sinusoid over the whole image (<see cref="SigTrigger"/>), clean-label: only target-class
/// training images are poisoned and no label changes.</summary>
/// <remarks>
/// <para>Barni, Kallas and Tondi, "A new backdoor attack in CNNs by training set corruption without label poisoning",
/// ICIP 2019.</para>
/// <para>Always clean-label: the policy's <see cref="PoisoningPolicy.LabelMode"/> is overridden with
/// <see cref="LabelMode.CleanLabel"/> and <see cref="IAttack.Policy"/> reports the override.</para>
/// </remarks>
public sealed class SigAttack : BackdoorAttack
{
    /// <summary>Creates the attack.</summary>
    /// <param name="policy">Poisoning policy; its label mode is overridden with clean-label.</param>
    /// <param name="trigger">The SIG trigger; the default <see cref="SigTrigger"/> (the reference T&amp;R signal, α = 0.2) when null.</param>
    /// <param name="logger">Logger; none when null.</param>
    /// <param name="name">The attack's name: <c>sig</c>, or <c>sig-smooth</c> for the smooth-sinusoid variant.</param>
    public SigAttack(PoisoningPolicy policy, SigTrigger? trigger = null, ILogger? logger = null, string name = "sig")
        : base(name, trigger ?? new SigTrigger(), ForceCleanLabel(policy), logger)
    {
    }
}
