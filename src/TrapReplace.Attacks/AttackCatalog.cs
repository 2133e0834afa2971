using TrapReplace.Attacks.Adversarial;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using TrapReplace.Attacks.Warping;

namespace TrapReplace.Attacks;

/// <summary>Creates the built-in attacks by their kebab-case names.</summary>
public static class AttackCatalog
{
    private static readonly string[] CustomTriggerAttacks =
        ["badnets", "badnets-grid", "trojan-3x3", "trojan-sq", "trojan-wm", "l0-invisible", "l2-invisible", "blend"];

    /// <summary>Gets the names of the built-in attacks, in the order of the documentation.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "badnets", "badnets-grid", "trojan-3x3", "trojan-sq", "trojan-wm", "l0-invisible", "l2-invisible",
        "blend", "smooth", "sig", "sig-smooth", "label-consistent", "wanet",
    ];

    /// <summary>Gets the attacks that are clean-label by definition: they poison target-class images and keep their labels.</summary>
    public static IReadOnlyList<string> CleanLabelNames { get; } = ["sig", "sig-smooth", "label-consistent"];

    /// <summary>True for an attack that is clean-label by definition (<see cref="CleanLabelNames"/>; case-insensitive).</summary>
    /// <param name="name">An attack name.</param>
    public static bool IsCleanLabel(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return CleanLabelNames.Contains(name.Trim().ToLowerInvariant());
    }

    /// <summary>Creates an attack.</summary>
    /// <param name="name">One of <see cref="Names"/> (case-insensitive).</param>
    /// <param name="policy">The poisoning policy. sig, sig-smooth and label-consistent are clean-label by definition and override
    /// its label mode with <see cref="LabelMode.CleanLabel"/>; wanet requires dirty-label.</param>
    /// <param name="parameters">Attack-specific settings; defaults when null.</param>
    /// <returns>The attack.</returns>
    /// <exception cref="ArgumentException">Unknown name (the message lists the valid ones), a required setting is
    /// missing (label-consistent without <see cref="AttackParameters.SurrogateModel"/>), a custom trigger was given to an
    /// attack that does not take one, or a setting is out of range.</exception>
    public static IAttack Create(string name, PoisoningPolicy policy, AttackParameters? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(policy);
        var p = parameters ?? new AttackParameters();
        string key = name.Trim().ToLowerInvariant();
        if (!Names.Contains(key))
        {
            throw new ArgumentException($"Unknown attack '{name}'. Valid names: {string.Join(", ", Names)}.", nameof(name));
        }

        if (p.CustomTrigger is not null && !CustomTriggerAttacks.Contains(key))
        {
            throw new ArgumentException(
                $"The attack '{key}' does not take a custom trigger; only {string.Join(", ", CustomTriggerAttacks)} do.",
                nameof(AttackParameters.CustomTrigger));
        }

        var trigger = p.CustomTrigger;
        var logger = p.Logger;
        int seed = p.TriggerSeed;
        return key switch
        {
            "badnets" => new BadNetsAttack(policy, trigger, logger),
            "badnets-grid" => new BadNetsGridAttack(policy, trigger, logger),
            "trojan-3x3" => new Trojan3x3Attack(policy, seed, trigger, logger),
            "trojan-sq" => new TrojanSquareAttack(policy, seed, trigger, logger),
            "trojan-wm" => new TrojanWatermarkAttack(policy, seed, trigger, logger),
            "l0-invisible" => new L0InvisibleAttack(policy, seed, trigger, logger),
            "l2-invisible" => new L2InvisibleAttack(policy, seed, trigger, logger),
            "blend" => new BlendAttack(policy, seed, p.BlendAlpha, trigger, logger),
            "smooth" => new SmoothAttack(policy, seed, logger),
            "sig" => new SigAttack(policy, new SigTrigger(p.SigMode, p.BlendAlpha, p.SigDelta, p.SigFrequency), logger),
            "sig-smooth" => new SigAttack(policy, new SigTrigger(SigMode.Blend, p.BlendAlpha, p.SigDelta, p.SigFrequency), logger, "sig-smooth"),
            "label-consistent" => new LabelConsistentAttack(
                policy,
                p.SurrogateModel ?? throw new ArgumentException(
                    "The label-consistent attack needs a surrogate model: set AttackParameters.SurrogateModel to the logits " +
                    "function of a separately trained classifier.", nameof(AttackParameters.SurrogateModel)),
                p.Pgd,
                logger),
            _ => new WaNetAttack(policy, p.WaNet, seed, logger),
        };
    }
}
