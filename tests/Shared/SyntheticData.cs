// Shared by the Experiments and Cli test projects (linked into both): a temporary folder and a synthetic CIFAR-10.
namespace TrapReplace.Tests.Shared;

/// <summary>A temporary folder removed at dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "trap-replace-test-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// A synthetic data set in the CIFAR-10 binary format (the reader requires 10,000 records per file): class k is a
/// flat colour plus seeded noise, so a network can learn it, and nothing depends on the real data being present.
/// </summary>
public sealed class SyntheticCifar10 : IDisposable
{
    private readonly TempFolder folder = new();

    public SyntheticCifar10()
        : this(classSortedTest: false)
    {
    }

    /// <summary>The same, with the test file grouped by class (1,000 of class 0, then class 1, …), as parts of the real
    /// test copy are; the training files always cycle through the classes.</summary>
    public static SyntheticCifar10 WithClassSortedTest() => new(classSortedTest: true);

    private SyntheticCifar10(bool classSortedTest)
    {
        var data = System.IO.Path.Combine(folder.Path, "cifar-10-batches-bin");
        Directory.CreateDirectory(data);
        var random = new Random(1);
        var record = new byte[3073];
        foreach (var name in new[] { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin" })
        {
            using var file = new BufferedStream(File.Create(System.IO.Path.Combine(data, name)), 1 << 20);
            for (int i = 0; i < 10_000; i++)
            {
                int label = classSortedTest && name == "test_batch.bin" ? i / 1000 : i % 10;
                record[0] = (byte)label;
                for (int c = 0; c < 3; c++)
                {
                    int baseValue = ((label >> c) & 1) * 150 + (label >= 8 ? 60 : 30);
                    for (int p = 0; p < 1024; p++) record[1 + c * 1024 + p] = (byte)Math.Clamp(baseValue + random.Next(-40, 41), 0, 255);
                }
                file.Write(record);
            }
        }
        File.WriteAllText(System.IO.Path.Combine(data, "batches.meta.txt"), string.Join('\n', "airplane automobile bird cat deer dog frog horse ship truck".Split(' ')) + "\n");
    }

    public string Root => folder.Path;

    public void Dispose() => folder.Dispose();
}
