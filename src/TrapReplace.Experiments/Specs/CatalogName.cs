using TrapReplace.Attacks;
using TrapReplace.Models;

namespace TrapReplace.Experiments.Specs;

/// <summary>
/// A name from one of the runner's catalogs, checked once where it enters (the command line, a caller's
/// <c>Parse</c>) and typed by its axis, so an attack's name cannot go where a defense's is expected. Result files and
/// cache keys write <see cref="Value"/>.
/// </summary>
public abstract record CatalogName
{
    private protected CatalogName(string value) => Value = value;

    /// <summary>The name as the command line, the result files and the cache keys write it.</summary>
    public string Value { get; }

    /// <summary>The name itself.</summary>
    public sealed override string ToString() => Value;

    private protected static string Checked(string? value, IReadOnlyList<string> choices, string option) =>
        value is not null && choices.Contains(value, StringComparer.Ordinal) ? value
            : throw UnknownName.For(option, value, choices);
}

/// <summary>An attack of <see cref="AttackCatalog"/>, or <see cref="None"/> (no poison).</summary>
public sealed record AttackName : CatalogName
{
    private AttackName(string value) : base(value) { }

    /// <summary>No attack: the untrusted set is the clean training set.</summary>
    public static AttackName None { get; } = new("none");

    /// <summary>Every name <c>--attack</c> accepts, <c>none</c> first.</summary>
    public static IReadOnlyList<string> Choices { get; } = [None.Value, .. AttackCatalog.Names];

    /// <summary>The attack called <paramref name="value"/>.</summary>
    /// <exception cref="UsageException">Not one of <see cref="Choices"/>; the message lists them.</exception>
    public static AttackName Parse(string? value) => Checked(value, Choices, "--attack") == None.Value ? None : new(value!);

    /// <summary>Whether this is <see cref="None"/>.</summary>
    public bool IsNone => Value == None.Value;

    /// <summary>Clean-label attacks poison only target-class images and keep their labels.</summary>
    public bool IsCleanLabel => !IsNone && AttackCatalog.IsCleanLabel(Value);
}

/// <summary>A <see cref="BackboneCatalog"/> backbone for the runner's 32x32 data sets.</summary>
public sealed record BackboneName : CatalogName
{
    private BackboneName(string value) : base(value) { }

    /// <summary>Every name <c>--backbone</c> accepts: the catalog's backbones for 32x32 inputs.</summary>
    public static IReadOnlyList<string> Choices { get; } =
        [.. BackboneCatalog.Names.Where(name => BackboneCatalog.Create(name, 10).InputShape.Height == 32)];

    /// <summary>The backbone called <paramref name="value"/>.</summary>
    /// <exception cref="UsageException">Not one of <see cref="Choices"/>; the message lists them.</exception>
    public static BackboneName Parse(string? value) => new(Checked(value, Choices, "--backbone"));

    /// <summary>Builds the backbone for <paramref name="classCount"/> classes.</summary>
    public IBackbone Create(int classCount) => BackboneCatalog.Create(Value, classCount);
}

/// <summary>
/// A defense's name: <see cref="None"/>, or one the defense catalog checked (<c>DefenseCatalog.Parse</c>). The
/// catalog sits above the specs in the one-way flow, so a spec carries the checked name, not the defense.
/// </summary>
public sealed record DefenseName : CatalogName
{
    internal DefenseName(string value) : base(value) { }

    /// <summary>No defense: the stage-1 network is evaluated as it is.</summary>
    public static DefenseName None { get; } = new("none");

    /// <summary>Whether this is <see cref="None"/>.</summary>
    public bool IsNone => Value == None.Value;
}
