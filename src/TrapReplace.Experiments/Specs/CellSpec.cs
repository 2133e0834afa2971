using System.Globalization;
using TrapReplace.Models;

namespace TrapReplace.Experiments.Specs;

/// <summary>One experiment: a data set, a backbone, an attack (or none), a defense, a seed and a profile, each a
/// checked, typed name (<see cref="ExperimentDataset.Parse"/>, <see cref="BackboneName.Parse"/>,
/// <see cref="AttackName.Parse"/>, <c>DefenseCatalog.Parse</c>, <see cref="ExperimentProfile.Parse"/>).</summary>
/// <param name="Dataset">The data set.</param>
/// <param name="Backbone">The backbone, for 32x32 inputs.</param>
/// <param name="Attack">The attack, or <see cref="AttackName.None"/>.</param>
/// <param name="Defense">The defense, or <see cref="DefenseName.None"/>.</param>
/// <param name="Seed">Seeds weight initialisation, batch order, augmentation and the choice of poisoned samples.</param>
/// <param name="Profile">The data proportions and schedules.</param>
/// <param name="TargetClass">The attack's target class.</param>
/// <param name="PoisonRatio">Fraction poisoned; null = the attack's default (see <see cref="ResolvedRatio"/>).</param>
/// <param name="DefenseSeed">Seeds the defense's own randomness (its new weights, its validation split, batch order and
/// augmentation) apart from <paramref name="Seed"/>; null = <paramref name="Seed"/>. The poisoned data and stage 1 always
/// follow <paramref name="Seed"/>, so cells that differ only here share their stage-1 network: the spread they show is
/// the defense's alone.</param>
public sealed record CellSpec(ExperimentDataset Dataset, BackboneName Backbone, AttackName Attack, DefenseName Defense, int Seed, ExperimentProfile Profile,
    int TargetClass = 0, double? PoisonRatio = null, int? DefenseSeed = null)
{
    /// <summary>The seed the defense runs with: <see cref="DefenseSeed"/>, else <see cref="Seed"/>.</summary>
    public int EffectiveDefenseSeed => DefenseSeed ?? Seed;

    /// <summary>How reports and progress lines name the seeds: <c>0</c>, or <c>0/d1</c> with defense seed 1.</summary>
    public string SeedLabel => FormatSeedLabel(Seed, DefenseSeed);

    /// <summary>The seed label of <paramref name="seed"/> and <paramref name="defenseSeed"/> (see <see cref="SeedLabel"/>).</summary>
    public static string FormatSeedLabel(int seed, int? defenseSeed) =>
        defenseSeed is int d ? string.Create(CultureInfo.InvariantCulture, $"{seed}/d{d}") : seed.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The poison ratio in use: the given one, else 0.1 of the training set (dirty-label; for WaNet 0.1 of every
    /// batch), or 0.8 of the target class for the clean-label attacks (10 % of the whole set would need every
    /// target-class image and more once the holdout is taken out).
    /// </summary>
    public double ResolvedRatio => PoisonRatio ?? (Attack.IsCleanLabel ? 0.8 : 0.1);

    /// <summary>The result file name; stable, so a rerun finds finished cells.</summary>
    public string FileName => string.Create(CultureInfo.InvariantCulture,
        $"{Dataset.Name}.{Backbone.Value}.{Profile.Name}.{AttackTag}.{Defense.Value}.seed{Seed}{(DefenseSeed is int d ? $".defense-seed{d}" : "")}.json");

    /// <summary>The attack with its target and ratio, e.g. <c>badnets-grid-t0-r0.1</c>; <c>none</c> without an attack.</summary>
    public string AttackTag => Attack.IsNone ? Attack.Value : string.Create(CultureInfo.InvariantCulture, $"{Attack.Value}-t{TargetClass}-r{ResolvedRatio}");

    /// <summary>Every problem with the numbers, as lines naming the option; empty when valid (the names were checked
    /// when they were parsed).</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (PoisonRatio is double r && !(r > 0 && r <= 1)) errors.Add(string.Create(CultureInfo.InvariantCulture, $"--ratio must be in (0, 1]; got {r}"));
        if (Seed < 0) errors.Add($"--seed must be >= 0; got {Seed}");
        if (DefenseSeed is int d)
        {
            if (d < 0) errors.Add($"--defense-seed must be >= 0; got {d}");
            else if (Defense.IsNone) errors.Add("--defense-seed needs a defense: defense 'none' has no randomness of its own");
            else if (d == Seed) errors.Add($"--defense-seed {d} is the same as --seed, which the defense uses anyway; leave it out");
        }
        if (TargetClass < 0 || TargetClass >= Dataset.ClassCount)
            errors.Add($"--target must be in [0, {Dataset.ClassCount - 1}] for {Dataset.Name}; got {TargetClass}");
        return errors;
    }

    /// <summary>True when a record naming these identity fields (as result files and failure records store them) is
    /// about this cell; target and ratio are part of <paramref name="attack"/>'s file, not compared here.</summary>
    public bool Identifies(string dataset, string backbone, string attack, string defense, int seed, int? defenseSeed, string profile) =>
        dataset == Dataset.Name && backbone == Backbone.Value && attack == Attack.Value && defense == Defense.Value && seed == Seed
        && defenseSeed == DefenseSeed && profile == Profile.Name;

    /// <summary>Builds the backbone for <paramref name="classCount"/> classes.</summary>
    public IBackbone CreateBackbone(int classCount) => Backbone.Create(classCount);
}
