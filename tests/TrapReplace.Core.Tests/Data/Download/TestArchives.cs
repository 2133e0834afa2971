using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data.Download;

/// <summary>Small CIFAR-10-style archives built in memory.</summary>
public static class TestArchives
{
    public const int RecordSize = 3073;

    /// <summary>The batch file names of the official archive.</summary>
    public static readonly string[] BatchFiles =
        ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"];

    /// <summary>
    /// Record r of batch file f has label (f + r) % 10 and every pixel byte equal to 10 * f + r, so
    /// tests can tell the files and records apart.
    /// </summary>
    public static byte[] Batch(int fileIndex, int records)
    {
        var bytes = new byte[records * RecordSize];
        for (int r = 0; r < records; r++)
        {
            bytes[r * RecordSize] = (byte)((fileIndex + r) % 10);
            bytes.AsSpan(r * RecordSize + 1, RecordSize - 1).Fill((byte)(10 * fileIndex + r));
        }
        return bytes;
    }

    /// <summary>A .tar.gz laid out like cifar-10-binary.tar.gz with <paramref name="records"/> records per batch.</summary>
    /// <param name="records">Records per batch file.</param>
    /// <param name="omit">A batch file to leave out.</param>
    /// <param name="override">Replaces the content of one file.</param>
    public static byte[] Cifar10(int records, string? omit = null, (string Name, byte[] Content)? @override = null)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "cifar-10-batches-bin/"));
            for (int f = 0; f < BatchFiles.Length; f++)
            {
                if (BatchFiles[f] == omit) continue;
                var content = @override is { } o && o.Name == BatchFiles[f] ? o.Content : Batch(f, records);
                AddFile(tar, $"cifar-10-batches-bin/{BatchFiles[f]}", content);
            }
            AddFile(tar, "cifar-10-batches-bin/batches.meta.txt", Encoding.ASCII.GetBytes(string.Join('\n', TrapReplace.Data.Cifar10.ClassNames) + "\n"));
            AddFile(tar, "cifar-10-batches-bin/readme.html", Encoding.ASCII.GetBytes("<html></html>"));
        }
        return output.ToArray();
    }

    public static FileChecksum Md5Of(byte[] bytes) => FileChecksum.Md5(Convert.ToHexString(MD5.HashData(bytes)));

    public static FileChecksum Sha256Of(byte[] bytes) => FileChecksum.Sha256(Convert.ToHexString(SHA256.HashData(bytes)));

    private static void AddFile(TarWriter tar, string name, byte[] content)
    {
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) };
        tar.WriteEntry(entry);
    }
}
