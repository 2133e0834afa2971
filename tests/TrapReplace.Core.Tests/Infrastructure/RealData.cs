namespace TrapReplace.Core.Tests.Infrastructure;

/// <summary>Where the real data sets are for tests: TRAPREPLACE_DATA, else the default cache that
/// ../shared/data/unpack.sh fills.</summary>
public static class RealData
{
    public static string Root =>
        Environment.GetEnvironmentVariable("TRAPREPLACE_DATA") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "trapreplace-data");

    public static string Cifar10Folder => Path.Combine(Root, "cifar-10-batches-bin");

    public static bool HasCifar10 => File.Exists(Path.Combine(Cifar10Folder, "data_batch_5.bin")) && File.Exists(Path.Combine(Cifar10Folder, "test_batch.bin"));
}

/// <summary>A fact that is skipped, with the reason, when the real CIFAR-10 copy is not unpacked.</summary>
public sealed class RealCifar10FactAttribute : FactAttribute
{
    public RealCifar10FactAttribute()
    {
        if (!RealData.HasCifar10)
            Skip = $"real CIFAR-10 not found under {RealData.Root} (run ../shared/data/unpack.sh or set TRAPREPLACE_DATA)";
    }
}
